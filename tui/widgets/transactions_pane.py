"""The transactions pane: every write's outcome live over SSE, a per-second sparkline, totals.

The outcomes are lines in a RichLog, not rows of a DataTable: a DataTable drops its render
caches on every added row, so at 200 events a second it redrew every visible cell ten times
a second (about 90 ms each on a busy 2-core machine) and keys waited behind it. A log line is
rendered once, when it arrives, and once the log is full its size stops changing, so a
burst costs a scroll, not a layout.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Label, RichLog, Sparkline, Static

from stackdeck.tui.client import ApiClient, ApiError
from stackdeck.tui.widgets.cells import when
from stackdeck.tui.widgets.pane import Pane

ROWS = 200  # outcomes kept; older ones go for good
WINDOW = 60  # seconds in the sparkline
MAX_BACKOFF = 5.0
FLUSH_EVERY = 0.25  # seconds: a burst of events is drawn once
# (header, width, right-aligned) of each column of a line
COLUMNS = (
    ("time", 8, False),
    ("operation", 22, False),
    ("entity", 14, False),
    ("outcome", 30, False),
    ("ms", 7, True),
    ("stmts", 5, True),
)


def _fit(text: str, width: int, right: bool) -> str:
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text.rjust(width) if right else text.ljust(width)


def demo_batch() -> list[dict[str, Any]]:
    """Three users, the third with the first one's email: the batch must roll back whole."""
    tag = uuid.uuid4().hex[:8]
    first = {"name": "Demo Ada", "email": f"demo-{tag}-ada@example.com", "posts": []}
    return [
        first,
        {
            "name": "Demo Grace",
            "email": f"demo-{tag}-grace@example.com",
            "posts": [{"title": "Hello", "body": "written only if the whole batch commits"}],
        },
        {"name": "Demo Ada again", "email": first["email"], "posts": []},
    ]


class TransactionsPane(Pane):
    WRITE_ACTIONS = frozenset({"batch_demo"})

    class BatchFinished(Message):
        """The demo batch ran (and, as designed, rolled back)."""

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client, id="transactions", title="Transactions · live")
        self.last_id: int | None = None
        self.committed: deque[int] = deque([0] * WINDOW, maxlen=WINDOW)
        self.rolled_back: deque[int] = deque([0] * WINDOW, maxlen=WINDOW)
        self._second = int(time.time())
        self.totals = {"committed": 0, "rolled_back": 0}
        self.connected = False
        self.shown: deque[dict[str, Any]] = deque(maxlen=ROWS)  # what the log shows, oldest first
        self._colours: dict[str, str] = {}
        self._pending: list[dict[str, Any]] = []
        self._flush_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield self.message
        with Horizontal(id="tx-charts"):
            yield Label("✔", classes="tx-ok")
            yield Sparkline(list(self.committed), id="tx-committed")
            yield Label("✘", classes="tx-bad")
            yield Sparkline(list(self.rolled_back), id="tx-rolled-back")
        yield Static("", id="tx-totals")
        header = " ".join(_fit(name, width, right) for name, width, right in COLUMNS)
        yield Static(Text(header, style="bold"), id="tx-header")
        yield RichLog(id="tx-log", max_lines=ROWS, wrap=False, markup=False, min_width=1)

    def on_mount(self) -> None:
        self._show_totals()
        self.set_interval(1.0, self._tick)
        self.watch(self.app, "theme", self._theme_changed, init=False)
        # The stream starts with refresh_data(), which the app calls once the users page
        # (what a user waits for at launch) is in.

    @property
    def log_view(self) -> RichLog:
        return self.query_one("#tx-log", RichLog)

    def refresh_data(self) -> None:
        if not self.connected:
            self.follow()

    # -- the stream -----------------------------------------------------------------------------

    @work(exclusive=True, group="tx-stream")
    async def follow(self) -> None:
        backoff = 0.5
        while True:
            try:
                if self.last_id is None:
                    await self._catch_up()
                self.show_message(None)
                async for event in self.client.stream_transactions(
                    str(self.last_id) if self.last_id is not None else None, self._opened
                ):
                    self.add(event.data, live=True)
                    backoff = 0.5
            except ApiError as error:
                self.connected = False
                self.border_title = "Transactions · reconnecting"
                if error.status == 404:
                    self.show_message("this backend has no transaction log (GET /transactions)")
                    await asyncio.sleep(30)
                    continue
                self.show_error(error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _opened(self) -> None:
        self.connected = True
        self.border_title = "Transactions · live"

    async def _catch_up(self) -> None:
        """The recent rows and the last minute's figures, then the stream from the newest id."""
        page = await self.client.transactions(limit=50, order="desc")
        for item in reversed(page["items"]):
            self.add(item, live=False)
        if self.last_id is None:
            self.last_id = 0
        stats = await self.client.transaction_stats(WINDOW)
        buckets = stats.get("buckets", [])[-WINDOW:]
        padding = [0] * (WINDOW - len(buckets))
        self.committed = deque(padding + [b["committed"] for b in buckets], maxlen=WINDOW)
        self.rolled_back = deque(padding + [b["rolled_back"] for b in buckets], maxlen=WINDOW)
        self._second = int(time.time())
        totals = stats.get("totals", {})
        self.totals = {
            "committed": int(totals.get("committed", 0)),
            "rolled_back": int(totals.get("rolled_back", 0)),
        }
        self._show_chart()
        self._show_totals()

    def add(self, item: dict[str, Any], *, live: bool) -> None:
        """Take one outcome; the table, chart and totals are redrawn at most 10 times a second."""
        item_id = int(item["id"])
        if self.last_id is not None and item_id <= self.last_id:
            return  # already shown: a replay after reconnecting
        self.last_id = item_id
        if live:
            self._advance()
            outcome = str(item.get("outcome", ""))
            series = self.committed if outcome == "committed" else self.rolled_back
            series[-1] += 1
            self.totals["committed" if outcome == "committed" else "rolled_back"] += 1
        self._pending.append(item)
        if self._flush_timer is None:
            self._flush_timer = self.set_timer(FLUSH_EVERY, self._flush)

    def _flush(self) -> None:
        self._flush_timer = None
        items, self._pending = self._pending[-ROWS:], []
        if not items:
            return
        log = self.log_view
        # Follow the newest lines unless the user has scrolled up to read older ones.
        following = log.scroll_y >= log.max_scroll_y
        for item in items:
            self.shown.append(item)
            log.write(self._line(item), scroll_end=following)
        self._show_chart()
        self._show_totals()

    def _line(self, item: dict[str, Any]) -> Text:
        entity = f"{item.get('entity', '')}#{item.get('entity_id') or ''}".rstrip("#")
        values = [
            when(item.get("occurred_at"), seconds=True),
            str(item.get("operation", "")),
            entity,
            None,
            f"{float(item.get('duration_ms') or 0):.1f}",
            str(item.get("statement_count", "")),
        ]
        line = Text(no_wrap=True, end="")
        for n, ((_, width, right), value) in enumerate(zip(COLUMNS, values, strict=True)):
            if n:
                line.append(" ")
            if value is None:
                outcome = self._outcome(str(item.get("outcome", "")), item.get("reason"))
                line.append(_fit(outcome.plain, width, right), style=outcome.style)
            else:
                line.append(_fit(value, width, right))
        return line

    def _outcome(self, outcome: str, reason: object) -> Text:
        if not self._colours:
            variables = self.app.get_css_variables()
            self._colours = {
                "ok": variables.get("success", "green"),
                "bad": variables.get("error", "red"),
            }
        if outcome == "committed":
            return Text("committed", style=f"bold {self._colours['ok']}")
        text = "rolled back" + (f": {reason}" if reason else "")
        return Text(text, style=f"bold {self._colours['bad']}")

    def _theme_changed(self) -> None:
        self._colours = {}

    # -- chart and totals -----------------------------------------------------------------------

    def _advance(self) -> None:
        now = int(time.time())
        for _ in range(min(now - self._second, WINDOW)):
            self.committed.append(0)
            self.rolled_back.append(0)
        self._second = max(self._second, now)

    def _tick(self) -> None:
        self._advance()
        self._show_chart()

    def _show_chart(self) -> None:
        self.query_one("#tx-committed", Sparkline).data = list(self.committed)
        self.query_one("#tx-rolled-back", Sparkline).data = list(self.rolled_back)

    def _show_totals(self) -> None:
        minute_ok, minute_bad = sum(self.committed), sum(self.rolled_back)
        # One line of fixed height: redrawing it needs no layout of the whole screen.
        self.query_one("#tx-totals", Static).update(
            Text.assemble(
                ("committed ", ""),
                (f"{self.totals['committed']:,}", "bold"),
                ("  rolled back ", ""),
                (f"{self.totals['rolled_back']:,}", "bold"),
                (f"   last {WINDOW} s: {minute_ok} / {minute_bad}", "dim"),
            ),
            layout=False,
        )

    # -- the demo batch -------------------------------------------------------------------------

    @work(group="tx-batch")
    async def action_batch_demo(self) -> None:
        users = demo_batch()
        self.notify(
            f"importing {len(users)} users; the last repeats the first's email, "
            "so the whole batch should roll back",
            title="Demo batch",
        )
        try:
            result = await self.client.batch_users(users)
        except ApiError as error:
            if error.status == 409:
                self.notify(
                    f"{error.message}. Nothing was written.",
                    title="Batch rolled back, as designed",
                    severity="warning",
                )
            else:
                self.notify(error.message, title="Batch failed", severity="error")
        else:
            self.notify(f"created {result.get('created')} users (unexpected)", severity="warning")
        self.post_message(self.BatchFinished())

"""The transactions pane: every write's outcome live over SSE, a per-second sparkline, totals.

The outcomes are lines in a RichLog, not rows of a DataTable: a DataTable drops its render
caches on every added row, so at 200 events a second it redrew every visible cell ten times
a second (about 90 ms each on a busy 2-core machine) and keys waited behind it. A log line is
rendered once, when it arrives, and once the log is full its size stops changing, so a
burst costs a scroll, not a layout. The cursor over the lines is a style applied as a line is
drawn (TransactionLog.render_line), so moving it redraws one line, not the log.

`space` pauses following: events still arrive (the chart and totals move), the title counts
those waiting, and resuming writes them all. `f` filters by operation and outcome.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Label, RichLog, Sparkline, Static

from stackdeck.tui.client import ApiClient, ApiError
from stackdeck.tui.screens.transaction_filter import TransactionFilter, TransactionFilterScreen
from stackdeck.tui.screens.xray import TransactionScreen
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


class TransactionLog(RichLog):
    """The outcome lines with a cursor: up/down/home/end move it (the first press lands on
    the newest line) and the view follows it; enter opens the line's transaction."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "cursor(-10)", "Page up", show=False),
        Binding("pagedown", "cursor(10)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
        Binding("enter", "open", "Open", show=False),
    ]

    COMPONENT_CLASSES = {"tx-log--cursor"}

    @dataclass
    class Opened(Message):
        index: int  # the line's place in the log

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.cursor: int | None = None  # a line of `lines`; None until a key moves it

    def trimmed(self, count: int) -> None:
        """`count` lines left the top: the cursor stays on its line."""
        if self.cursor is not None and count:
            self.cursor = self.cursor - count if self.cursor >= count else None

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.cursor is not None and self.scroll_offset.y + y == self.cursor:
            # The theme's cursor colour while focused, a dimmer mark otherwise (as DataTable).
            style = self.get_component_rich_style("tx-log--cursor")
            strip = strip.apply_style(style if self.has_focus else Style(reverse=True, dim=True))
        return strip

    def action_cursor(self, step: int) -> None:
        if not self.lines:
            return
        start = len(self.lines) - 1 if self.cursor is None else self.cursor + step
        self._move(start)

    def action_cursor_to(self, where: int) -> None:
        if self.lines:
            self._move(where % len(self.lines))

    def _move(self, row: int) -> None:
        row = max(0, min(row, len(self.lines) - 1))
        self.cursor = row
        if row < self.scroll_offset.y:
            self.scroll_to(y=row, animate=False)
        elif row >= self.scroll_offset.y + self.scrollable_content_region.height:
            self.scroll_to(y=row - self.scrollable_content_region.height + 1, animate=False)
        self.refresh()

    def action_open(self) -> None:
        if self.cursor is not None:
            self.post_message(self.Opened(self.cursor))

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class TransactionsPane(Pane):
    WRITE_ACTIONS = frozenset({"batch_demo"})
    BINDINGS = [
        Binding("space", "pause", "Pause / follow", id="pause_transactions"),
        Binding("f", "filter", "Filter", id="filter_transactions"),
    ]

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
        # Every kept outcome, oldest first; the log shows those the filter lets through.
        self.shown: deque[dict[str, Any]] = deque(maxlen=ROWS)
        self._colours: dict[str, str] = {}
        self._pending: list[dict[str, Any]] = []
        self._flush_timer: Timer | None = None
        self.lines: deque[dict[str, Any]] = deque(maxlen=ROWS)  # the log's lines, in step
        self.paused = False
        self.held: deque[dict[str, Any]] = deque(maxlen=ROWS)  # arrived while paused, all
        self.waiting_count = 0  # of those, how many the filter lets through
        self.filter = TransactionFilter()
        self._state = "live"

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
        yield TransactionLog(id="tx-log", max_lines=ROWS, wrap=False, markup=False, min_width=1)

    def on_mount(self) -> None:
        self._show_totals()
        self.set_interval(1.0, self._tick)
        self.watch(self.app, "theme", self._theme_changed, init=False)
        # The stream starts with refresh_data(), which the app calls once the users page
        # (what a user waits for at launch) is in.

    @property
    def log_view(self) -> TransactionLog:
        return self.query_one("#tx-log", TransactionLog)

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
                self._show_title("reconnecting")
                if error.status == 404:
                    self.show_message("this backend has no transaction log (GET /transactions)")
                    await asyncio.sleep(30)
                    continue
                self.show_error(error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _opened(self) -> None:
        self.connected = True
        self._show_title("live")

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
        self.shown.extend(items)
        matching = [item for item in items if self.filter.matches(item)]
        if self.paused:
            self.held.extend(items)
            self.waiting_count += len(matching)
            self._show_title()
        else:
            self._write(matching)
        self._show_chart()
        self._show_totals()

    def _write(self, items: list[dict[str, Any]]) -> None:
        log = self.log_view
        # Follow the newest lines unless the user has scrolled up to read older ones.
        following = log.scroll_y >= log.max_scroll_y
        for item in items[-ROWS:]:
            if len(self.lines) == ROWS:
                log.trimmed(1)
            self.lines.append(item)
            log.write(self._line(item), scroll_end=following)

    def _rewrite(self) -> None:
        """Every kept outcome again, through the filter (after the filter changed); those
        held by a pause still wait, counted through the new filter."""
        held = {id(item) for item in self.held}
        self.log_view.clear()
        self.log_view.cursor = None
        self.lines.clear()
        self._write([i for i in self.shown if id(i) not in held and self.filter.matches(i)])
        self.waiting_count = sum(1 for item in self.held if self.filter.matches(item))

    def _show_title(self, state: str | None = None) -> None:
        self._state = state or self._state
        parts = ["Transactions", self._state]
        if self.paused:
            parts.append(f"paused · {self.waiting_count} waiting (space resumes)")
        if self.filter.active:
            parts.append(f"filter: {self.filter.describe()}")
        self.border_title = " · ".join(parts)

    # -- keys: pause, filter, open --------------------------------------------------------------

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            held, self.held = list(self.held), deque(maxlen=ROWS)
            self.waiting_count = 0
            self._write([item for item in held if self.filter.matches(item)])
        self._show_title()

    def action_filter(self) -> None:
        def chosen(new: TransactionFilter | None) -> None:
            if new is not None and new != self.filter:
                self.filter = new
                self._rewrite()
                self._show_title()

        self.app.push_screen(TransactionFilterScreen(self.filter, self._operations()), chosen)

    def _operations(self) -> list[str]:
        return sorted({str(item.get("operation", "")) for item in self.shown} - {""})

    @on(TransactionLog.Opened)
    def _open(self, event: TransactionLog.Opened) -> None:
        if 0 <= event.index < len(self.lines):
            item = self.lines[event.index]
            self.app.push_screen(TransactionScreen(self.client, int(item["id"])))

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

"""The migrations pane: current revision, head, pending, history and drift; runs `m` and `d`,
`u` and `D` to the revision under the cursor; `enter` shows a revision's SQL and source."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from stackdeck.tui.client import ApiClient, ApiError
from stackdeck.tui.screens.migration import MigrationScreen
from stackdeck.tui.screens.revision import RevisionScreen
from stackdeck.tui.widgets.cells import cell, when
from stackdeck.tui.widgets.pane import Pane


def _revs(values: list[str] | None) -> str:
    return ", ".join(values or []) or "base (empty)"


def _parents(item: dict[str, Any]) -> list[str]:
    down = item.get("down_revision")
    if down is None:
        return []
    return [down] if isinstance(down, str) else [str(d) for d in down]


class MigrationsPane(Pane):
    BINDINGS = [
        Binding("u", "upgrade_to", "Upgrade to this", id="upgrade_to"),
        Binding("D", "downgrade_to", "Downgrade to this", id="downgrade_to"),
    ]
    WRITE_ACTIONS = frozenset({"upgrade", "downgrade", "upgrade_to", "downgrade_to"})

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client, id="migrations", title="Migrations")
        self.state: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield self.message
        yield Static("", id="mig-summary")
        yield Static("", id="mig-drift")
        table: DataTable[Any] = DataTable(id="mig-history", cursor_type="row")
        # Fixed widths: the history is short, and a redraw never shifts the columns.
        table.add_column("", key="mark", width=1)
        table.add_column("revision", key="revision", width=30)
        table.add_column("message", key="message", width=28)
        table.add_column("created", key="created", width=16)
        yield table

    def refresh_data(self) -> None:
        self.load()

    @work(exclusive=True, group="mig-load")
    async def load(self) -> None:
        try:
            state = await self.client.migrations()
        except ApiError as error:
            if error.status == 404:
                self.show_message("this backend has no migrations API (GET /migrations)")
            else:
                self.show_error(error)
            return
        self.show_message(None)
        self.state = state
        self._fill(state)

    def _fill(self, state: dict[str, Any]) -> None:
        pending = int(state.get("pending", 0))
        at_head = bool(state.get("at_head"))
        # At head the head is the current revision: named once, so the line fits the pane.
        head = () if at_head else (("   head ", "dim"), (_revs(state.get("heads")), "bold"))
        summary = Text.assemble(
            ("current ", "dim"),
            (_revs(state.get("current")), "bold"),
            *head,
            ("   ", ""),
            ("at head" if at_head else f"{pending} pending — press m", "bold"),
        )
        self.query_one("#mig-summary", Static).update(summary)
        drift = state.get("drift") or {}
        drift_widget = self.query_one("#mig-drift", Static)
        if drift.get("detected"):
            lines = "\n".join(f"  {d}" for d in drift.get("differences", [])[:5])
            drift_widget.update(Text(f"⚠ drift: the database differs from the models\n{lines}"))
            drift_widget.display = True
        else:
            drift_widget.display = False
        table = self.table
        table.clear()
        history = state.get("history", [])
        children: dict[str, int] = {}
        for item in history:
            for parent in _parents(item):
                children[parent] = children.get(parent, 0) + 1
        for item in history:
            mark = "●" if item.get("is_current") else ("✔" if item.get("applied") else "·")
            revision = str(item.get("revision", ""))
            # Heads, branch points (more than one revision on top) and merges are marked.
            notes = [
                note
                for note, holds in (
                    ("head", bool(item.get("is_head"))),
                    ("branch point", children.get(revision, 0) > 1),
                    ("merge", len(_parents(item)) > 1),
                )
                if holds
            ]
            table.add_row(
                cell(mark, "bold" if item.get("applied") else "dim"),
                cell(revision + (f" ({', '.join(notes)})" if notes else "")),
                cell(item.get("message", "")),
                cell(when(item.get("created"))),
                key=str(item.get("revision")),
            )
        self.set_class(not at_head, "-pending")

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#mig-history", DataTable)

    def _plan(self, direction: str) -> tuple[str, str, str]:
        """(from, to, target) for the SQL preview and the run."""
        state = self.state or {}
        current = (state.get("current") or ["base"])[0]
        if direction == "upgrade":
            return current, "head", "head"
        down = "base"
        for item in state.get("history", []):
            if item.get("revision") == current:
                down = item.get("down_revision") or "base"
        return current, str(down), "-1"

    def action_upgrade(self) -> None:
        self.run_migration("upgrade")

    def action_downgrade(self) -> None:
        self.run_migration("downgrade")

    def selected(self) -> dict[str, Any] | None:
        """The history entry under the cursor, by its row key (the revision)."""
        table = self.table
        if not table.is_valid_row_index(table.cursor_row):
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return next(
            (
                i
                for i in (self.state or {}).get("history", [])
                if i.get("revision") == row_key.value
            ),
            None,
        )

    @on(DataTable.RowSelected, "#mig-history")
    def _open_revision(self) -> None:
        item = self.selected()
        if item is not None:
            self.app.push_screen(RevisionScreen(self.client, item, _parents(item)))

    def action_upgrade_to(self) -> None:
        item = self.selected()
        if item is None:
            return
        if item.get("applied"):
            self.notify(
                f"{item['revision']} is applied already; D downgrades to it", title="Migrations"
            )
            return
        self.run_migration("upgrade", str(item["revision"]))

    def action_downgrade_to(self) -> None:
        item = self.selected()
        if item is None:
            return
        if not item.get("applied") or item.get("is_current"):
            self.notify(
                f"{item['revision']} is not below the current revision; u upgrades to it",
                title="Migrations",
            )
            return
        self.run_migration("downgrade", str(item["revision"]))

    @work(exclusive=True, group="mig-run")
    async def run_migration(self, direction: str, to: str | None = None) -> None:
        """`m`/`d` (head, one step down), or `u`/`D` to the revision `to`."""
        if self.state is None:
            try:
                self.state = await self.client.migrations()
            except ApiError as error:
                self.notify(error.message, title="Migrations", severity="error")
                return
        state = self.state
        if direction == "upgrade" and state.get("at_head"):
            self.notify("already at head; nothing to upgrade", title="Migrations")
            return
        if direction == "downgrade" and not state.get("current"):
            self.notify("the database is empty; nothing to downgrade", title="Migrations")
            return
        source, target_rev, target = self._plan(direction)
        if to is not None:
            target_rev = target = to
        try:
            sql = (await self.client.migration_sql(source, target_rev)).get("sql", "")
        except ApiError as error:
            sql = f"-- the SQL could not be shown: {error.message}"
        client = self.client

        async def run() -> dict[str, Any]:
            if direction == "upgrade":
                return await client.upgrade(target)
            return await client.downgrade(target)

        # The screen announces the outcome (MigrationScreen.Finished) as soon as the run ends.
        await self.app.push_screen_wait(MigrationScreen(direction, source, target_rev, sql, run))

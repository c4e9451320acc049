"""Running a migration: the SQL to confirm, then progress, then the outcome, in one modal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Label, LoadingIndicator, Static

from stackdeck.tui.client import ApiError

Run = Callable[[], Awaitable[dict[str, Any]]]


class MigrationScreen(ModalScreen[dict[str, Any] | None]):
    """Dismisses with None when cancelled, else {"ok": bool, ...the outcome or the error}."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("y", "confirm", "Run"),
        Binding("n,escape", "close", "Cancel / close"),
        Binding("enter", "close_if_done", "Close", show=False),
        # A modal screen hides the app's keys; quitting mid-run must still be possible (and ask).
        Binding("q", "app.quit", "Quit"),
    ]

    class Finished(Message):
        """A run ended, well or not: every pane should refresh."""

        def __init__(self, outcome: dict[str, Any]) -> None:
            super().__init__()
            self.outcome = outcome

    def __init__(self, direction: str, source: str, target: str, sql: str, run: Run) -> None:
        super().__init__()
        self.direction = direction
        self.source = source
        self.target = target
        self.sql = sql
        self.run = run
        self.phase = "confirm"  # confirm -> running -> done
        self.outcome: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        verb = "Upgrade" if self.direction == "upgrade" else "Downgrade"
        with Vertical(id="dialog"):
            yield Label(f"{verb} {self.source} → {self.target}", id="mig-title", markup=False)
            yield Label("This SQL will run:", id="mig-phase")
            with VerticalScroll(id="mig-sql-scroll"):
                yield Static(self.sql or "-- (no SQL)", id="mig-sql", markup=False)
            yield LoadingIndicator(id="mig-progress")
            yield Static("", id="mig-outcome")
            with Horizontal(id="buttons"):
                yield Button(f"{verb} (y)", variant="warning", id="run")
                yield Button("Cancel (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#mig-progress").display = False
        self.query_one("#mig-outcome").display = False

    @on(Button.Pressed, "#run")
    def action_confirm(self) -> None:
        if self.phase == "confirm":
            self.phase = "running"
            self.query_one("#mig-phase", Label).update("Running…")
            self.query_one("#mig-progress").display = True
            self.query_one("#run", Button).display = False
            self.query_one("#cancel", Button).disabled = True
            self.execute()

    @on(Button.Pressed, "#cancel")
    def action_close(self) -> None:
        if self.phase == "running":
            return  # a migration cannot be abandoned half-way from here
        self.dismiss(self.outcome)

    def action_close_if_done(self) -> None:
        if self.phase == "done":
            self.dismiss(self.outcome)

    @work(exclusive=True, group="migration")
    async def execute(self) -> None:
        outcome: dict[str, Any]
        try:
            result = await self.run()
            outcome = {"ok": True, **result}
            applied = ", ".join(result.get("applied", [])) or "nothing"
            text = (
                f"✔ {self.direction} done in {float(result.get('duration_ms') or 0):.0f} ms: "
                f"{', '.join(result.get('from', [])) or 'base'} → "
                f"{', '.join(result.get('to', [])) or 'base'} (applied {applied})"
            )
        except ApiError as error:
            outcome = {"ok": False, "status": error.status, "error": error.message}
            if error.status == 409:
                text = f"✘ not run: {error.detail or error.title} — try again when it has finished"
            else:
                text = f"✘ {error.message}"
        self.outcome = outcome
        self.phase = "done"
        self.query_one("#mig-phase", Label).update("Done." if outcome["ok"] else "Failed.")
        self.query_one("#mig-progress").display = False
        result_widget = self.query_one("#mig-outcome", Static)
        result_widget.update(text)
        result_widget.display = True
        result_widget.set_class(not outcome["ok"], "-error")
        cancel = self.query_one("#cancel", Button)
        cancel.label = "Close (enter)"
        cancel.disabled = False
        cancel.focus()
        self.app.post_message(self.Finished(outcome))

"""The transactions pane's filter (`f`): by operation and by outcome. `enter` applies it,
`escape` clears it (the pane shows every outcome again)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, RadioButton, RadioSet

OUTCOMES = (("any", "any outcome"), ("committed", "committed"), ("rolled_back", "rolled back"))


@dataclass(frozen=True)
class TransactionFilter:
    operation: str = ""  # a part of the operation's name: "users", "posts.delete"…
    outcome: str = "any"  # or "committed" / "rolled_back"

    @property
    def active(self) -> bool:
        return bool(self.operation) or self.outcome != "any"

    def matches(self, item: dict[str, Any]) -> bool:
        if self.operation and self.operation not in str(item.get("operation", "")):
            return False
        return self.outcome == "any" or item.get("outcome") == self.outcome

    def describe(self) -> str:
        parts = [self.operation] if self.operation else []
        if self.outcome != "any":
            parts.append(dict(OUTCOMES)[self.outcome])
        return ", ".join(parts)


class TransactionFilterScreen(ModalScreen[TransactionFilter | None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [
        Binding("escape", "clear", "Clear the filter"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self, current: TransactionFilter, operations: list[str]) -> None:
        super().__init__()
        self.current = current
        self.operations = operations

    def compose(self) -> ComposeResult:
        with Vertical(id="filter-dialog"):
            yield Label("Filter transactions", id="filter-title")
            known = ", ".join(self.operations) or "none yet"
            yield Label(f"operation contains (seen: {known})", markup=False)
            yield Input(self.current.operation, placeholder="e.g. users.update", id="filter-op")
            yield Label("outcome")
            with RadioSet(id="filter-outcome"):
                for value, label in OUTCOMES:
                    yield RadioButton(label, value=value == self.current.outcome, name=value)
            yield Label("enter (or ctrl+s) applies · escape clears", classes="filter-hint")

    def on_mount(self) -> None:
        self.query_one("#filter-op", Input).focus()

    def on_input_submitted(self) -> None:
        self.action_apply()

    def action_apply(self) -> None:
        pressed = self.query_one("#filter-outcome", RadioSet).pressed_button
        outcome = (pressed.name if pressed else None) or "any"
        self.dismiss(TransactionFilter(self.query_one("#filter-op", Input).value.strip(), outcome))

    def action_clear(self) -> None:
        self.dismiss(TransactionFilter())

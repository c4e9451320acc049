"""The help screen (`?`): every key the console answers to, from the bindings themselves."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

INTRO = (
    "stackdeck shows users, their posts, every write's outcome as it happens and the schema's "
    "migrations. tab moves between panes; ctrl+p opens the command palette."
)


class HelpScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=False, padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for title, keys in self.sections:
            table.add_row(f"[u]{title}[/u]", "")
            for key, description in keys:
                table.add_row(key, description)
            table.add_row("", "")
        with Vertical(id="dialog"):
            yield Label("Keys", id="help-title")
            yield Static(INTRO, id="help-intro")
            with VerticalScroll():
                yield Static(table)

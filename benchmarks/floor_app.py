"""The floor for the console's launch: the smallest Textual app that paints one word, in the
same venv. `stackdeck`'s launch is measured over it, alternately, in the same terminal."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import BindingType
from textual.widgets import Static


class FloorApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static("floor")


if __name__ == "__main__":
    FloorApp().run()

"""The frame every pane shares: a bordered box with a one-line message for states and errors."""

from __future__ import annotations

from textual.containers import Vertical
from textual.widgets import Static

from stackdeck.tui.client import ApiClient, ApiError

SCHEMA_NOT_MIGRATED = "schema not migrated — press m"


def describe(error: ApiError) -> str:
    """The line a pane shows for a failed call: plain words, never a traceback."""
    if error.schema_not_ready:
        return SCHEMA_NOT_MIGRATED
    if error.unreachable:
        return f"backend unreachable — retrying ({error.detail})"
    return error.message


class Pane(Vertical, can_focus=False):
    """A pane talks to the API through `client`; its state line says what is going on."""

    WRITE_ACTIONS: frozenset[str] = frozenset()  # hidden and refused in read-only mode

    def __init__(self, client: ApiClient, *, id: str, title: str) -> None:
        super().__init__(id=id, classes="pane")
        self.client = client
        self.border_title = title
        self.message = Static("", classes="pane-message")
        self.message.display = False

    def show_message(self, text: str | None, *, error: bool = False) -> None:
        self.message.update(text or "")
        self.message.display = bool(text)
        self.message.set_class(error, "-error")

    def show_error(self, error: ApiError) -> None:
        self.show_message(describe(error), error=not error.schema_not_ready)

    def refresh_data(self) -> None:
        """Fetch what the pane shows again (after `r`, a migration, or a reconnect)."""
        raise NotImplementedError

    @property
    def read_only(self) -> bool:
        return self.client.read_only

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.WRITE_ACTIONS and self.read_only)

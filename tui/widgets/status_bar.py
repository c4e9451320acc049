"""The status line above the footer: the last request's latency and SQL statement count."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from stackdeck.tui.client import RequestRecord


def describe(record: RequestRecord) -> Text:
    text = Text.assemble((record.method, "bold"), " ", record.path, " ")
    if record.status:
        text.append(str(record.status), "green" if record.status < 400 else "yellow")
    else:
        text.append("no answer", "bold red")
    text.append(f" · {record.latency_ms:.0f} ms")
    if record.statements is not None:
        noun = "statement" if record.statements == 1 else "statements"
        text.append(f" · {record.statements} SQL {noun}")
    if record.db_ms is not None:
        text.append(f" ({record.db_ms:.1f} ms in the database)", "dim")
    return text


class StatusBar(Static):
    """A click (or the app's `S`) opens the statements behind the request it shows."""

    class Clicked(Message):
        pass

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked())

    def show(self, record: RequestRecord) -> None:
        # Its height is fixed at one line (app.tcss): no layout of the screen per request.
        self.update(describe(record), layout=False)

"""The request log (`l`): the last HTTP calls with status, latency and SQL statements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from stackdeck.tui.client import ApiClient, RequestRecord
from stackdeck.tui.widgets.cells import cell


def status_style(status: int) -> str:
    if status == 0 or status >= 500:
        return "bold red"
    if status >= 400:
        return "yellow"
    return "green"


class RequestLogScreen(ModalScreen[None]):
    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [Binding("escape,l,q", "dismiss", "Close")]

    def __init__(self, client: ApiClient) -> None:
        super().__init__()
        self.client = client

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("", id="log-title")
            table: DataTable[Any] = DataTable(id="log-table", cursor_type="row", zebra_stripes=True)
            for name in ("time", "method", "path", "status", "ms", "db ms", "stmts", "request id"):
                table.add_column(name, key=name)
            yield table

    def on_mount(self) -> None:
        self.client.listeners.append(self._add)
        records = list(self.client.log)
        for record in records:
            self._add(record)
        self.query_one("#log-title", Label).update(
            f"Request log — the last {self.client.log.maxlen} calls (newest at the bottom)"
        )
        self.query_one("#log-table").focus()

    def on_unmount(self) -> None:
        if self._add in self.client.listeners:
            self.client.listeners.remove(self._add)

    def _add(self, record: RequestRecord) -> None:
        table = self.query_one("#log-table", DataTable)
        status = cell(record.status or "—", status_style(record.status))
        table.add_row(
            cell(record.at.strftime("%H:%M:%S.%f")[:-3]),
            cell(record.method),
            cell(record.path + (f"  ({record.error})" if record.error else "")),
            status,
            cell(f"{record.latency_ms:.1f}"),
            cell("" if record.db_ms is None else f"{record.db_ms:.1f}"),
            cell("" if record.statements is None else record.statements),
            cell(record.request_id or ""),
        )
        maxlen = self.client.log.maxlen or 500
        while table.row_count > maxlen:
            table.remove_row(next(iter(table.rows)))
        table.move_cursor(row=table.row_count - 1, animate=False)

"""The request log (`l`): the last HTTP calls with status, latency and SQL statements; enter
shows a call's X-ray (its statements and warnings), and calls flagged N+1 are marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from stackdeck.tui.client import ApiClient, ApiError, RequestRecord
from stackdeck.tui.screens.xray import RequestTraceScreen
from stackdeck.tui.widgets.cells import cell

# The backend flags one statement shape run 5 times or more: a call with fewer statements
# cannot be N+1, so only the others are looked up.
N_PLUS_ONE_AT = 5
XRAY_PATHS = "/requests/"  # the X-ray's own lookups: the backend does not trace them either


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
        self.records: dict[str, RequestRecord] = {}  # by row key
        self._added = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("", id="log-title")
            table: DataTable[Any] = DataTable(id="log-table", cursor_type="row", zebra_stripes=True)
            for name in (
                "time",
                "method",
                "path",
                "status",
                "ms",
                "db ms",
                "stmts",
                "x-ray",
                "request id",
            ):
                table.add_column(name, key=name)
            yield table

    def on_mount(self) -> None:
        self.client.listeners.append(self._live)
        records = list(self.client.log)
        for record in records:
            self._add(record)
        self.query_one("#log-title", Label).update(
            f"Request log — the last {self.client.log.maxlen} calls (newest at the bottom)"
        )
        self.query_one("#log-table").focus()
        self.flag_n_plus_one(records)

    def on_unmount(self) -> None:
        if self._live in self.client.listeners:
            self.client.listeners.remove(self._live)

    def _live(self, record: RequestRecord) -> None:
        self._add(record)
        if (record.statements or 0) >= N_PLUS_ONE_AT:
            self.flag_n_plus_one([record])

    def _add(self, record: RequestRecord) -> None:
        if record.path.startswith(XRAY_PATHS):
            return
        table = self.query_one("#log-table", DataTable)
        key = str(self._added)
        self._added += 1
        self.records[key] = record
        status = cell(record.status or "—", status_style(record.status))
        table.add_row(
            cell(record.at.strftime("%H:%M:%S.%f")[:-3]),
            cell(record.method),
            cell(record.path + (f"  ({record.error})" if record.error else "")),
            status,
            cell(f"{record.latency_ms:.1f}"),
            cell("" if record.db_ms is None else f"{record.db_ms:.1f}"),
            cell("" if record.statements is None else record.statements),
            cell(""),
            cell(record.request_id or ""),
            key=key,
        )
        maxlen = self.client.log.maxlen or 500
        while table.row_count > maxlen:
            oldest = next(iter(table.rows))
            table.remove_row(oldest)
            self.records.pop(str(oldest.value), None)
        table.move_cursor(row=table.row_count - 1, animate=False)

    @work(group="request-log-flags")
    async def flag_n_plus_one(self, records: list[RequestRecord]) -> None:
        """Mark each call the backend flagged N+1, newest first (only calls of 5 statements
        or more are asked about); a call the backend no longer keeps stays unmarked."""
        keys = {id(record): key for key, record in self.records.items()}
        for record in reversed(records):
            key = keys.get(id(record))
            if key is None or not record.request_id or (record.statements or 0) < N_PLUS_ONE_AT:
                continue
            try:
                trace = await self.client.request_trace(record.request_id)
            except ApiError:
                continue
            if trace.n_plus_one and key in self.records:
                worst = max(warning.count for warning in trace.n_plus_one)
                table = self.query_one("#log-table", DataTable)
                warning = self.app.get_css_variables().get("warning", "yellow")
                table.update_cell(key, "x-ray", cell(f"⚠ N+1 ×{worst}", f"bold {warning}"))

    @on(DataTable.RowSelected, "#log-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        record = self.records.get(str(event.row_key.value))
        if record is None or not record.request_id:
            self.notify("this call has no request id (no answer came)", severity="warning")
            return
        self.app.push_screen(RequestTraceScreen(self.client, record.request_id))

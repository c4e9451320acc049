"""Exporting the users pane's view to a file: a path, then a progress bar with rows and rate.

The file is written chunk by chunk as the backend streams it (nothing is held but a chunk),
in a worker; `escape` cancels the worker and removes the partial file. An existing file is
never overwritten (nor removed).
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from datetime import datetime
from pathlib import Path

import anyio
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.screen import ModalScreen
from textual.widgets import Input, Label, ProgressBar, Static

from stackdeck.tui.client import ApiClient, ApiError, UserView

FORMATS = {".csv": "csv", ".ndjson": "ndjson", ".json": "json"}
# What starts each row in the bytes of a format (CSV: its header is one line more).
ROW_MARKS = {"csv": b"\n", "ndjson": b"\n", "json": b'{"id":'}


def default_path(now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path.cwd() / f"users-{stamp}.csv"


class RowCounter:
    """Rows seen so far in a stream of chunks; a mark split between two chunks counts once."""

    def __init__(self, export_format: str) -> None:
        self.mark = ROW_MARKS[export_format]
        self.header = 1 if export_format == "csv" else 0
        self.seen = 0
        self._tail = b""

    def feed(self, chunk: bytes) -> int:
        data = self._tail + chunk
        self.seen += data.count(self.mark)
        self._tail = data[-(len(self.mark) - 1) :] if len(self.mark) > 1 else b""
        return self.rows

    @property
    def rows(self) -> int:
        return max(0, self.seen - self.header)


class ExportScreen(ModalScreen[Path | None]):
    """Dismisses with the file written, or None (cancelled or failed)."""

    CSS_PATH = Path(__file__).with_suffix(".tcss")
    BINDINGS = [Binding("escape", "cancel", "Cancel (removes the partial file)")]

    phase: var[str] = var("path")  # path -> running -> done

    def __init__(self, client: ApiClient, view: UserView) -> None:
        super().__init__()
        self.client = client
        self.view = view
        self.path: Path | None = None
        self.rows = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Export the users shown (their sort, filters and search)", id="title")
            yield Label("File (.csv, .ndjson or .json):", classes="field-label")
            yield Input(str(default_path()), id="export-path")
            yield Static("", id="export-error")
            yield ProgressBar(id="export-progress", show_eta=True)
            yield Static("", id="export-rate")

    def watch_phase(self, phase: str) -> None:
        self.set_class(phase != "path", "-started")

    @on(Input.Submitted, "#export-path")
    def _start(self, event: Input.Submitted) -> None:
        if self.phase != "path":
            return
        path = Path(event.value.strip()).expanduser()
        export_format = FORMATS.get(path.suffix.lower())
        error = self.query_one("#export-error", Static)
        if export_format is None:
            error.update("the file's extension says the format: .csv, .ndjson or .json")
            return
        if path.exists():
            error.update(f"{path} exists; choose another name")
            return
        error.update("")
        self.path = path
        self.phase = "running"
        self.export(path, export_format)

    @work(exclusive=True, group="export")
    async def export(self, path: Path, export_format: str) -> None:
        bar = self.query_one("#export-progress", ProgressBar)
        rate = self.query_one("#export-rate", Static)
        created = finished = False
        try:
            bar.update(total=await self.client.count_users(self.view), progress=0)
            counter = RowCounter(export_format)
            started = time.monotonic()
            chunks = self.client.export_users(self.view, export_format)
            async with aclosing(chunks), await anyio.open_file(path, "xb") as out:
                created = True
                async for chunk in chunks:
                    await out.write(chunk)
                    self.rows = counter.feed(chunk)
                    elapsed = max(time.monotonic() - started, 1e-6)
                    bar.update(progress=self.rows)
                    rate.update(f"{self.rows:,} rows · {self.rows / elapsed:,.0f} rows/s")
            finished = True
        except ApiError as error:
            self.query_one("#export-error", Static).update(error.message)
            self.phase = "path"
            return
        except OSError as error:
            self.query_one("#export-error", Static).update(f"cannot write {path}: {error}")
            self.phase = "path"
            return
        finally:
            if created and not finished:  # cancelled or failed half-way: no partial file
                # Shielded: closing the screen cancels its workers again, mid-cleanup.
                await asyncio.shield(asyncio.to_thread(path.unlink, missing_ok=True))
        self.phase = "done"
        bar.update(total=self.rows, progress=self.rows)
        rate.update(f"✔ {self.rows:,} rows written to {path} (escape closes)")
        self.notify(f"{self.rows:,} users exported to {path}", title="Export")

    def action_cancel(self) -> None:
        if self.phase == "running":
            # The worker's cleanup removes the file; the screen closes at once.
            self.workers.cancel_group(self, "export")
            self.notify("export cancelled; the partial file is removed", title="Export")
            self.dismiss(None)
            return
        self.dismiss(self.path if self.phase == "done" else None)

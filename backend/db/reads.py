"""The one read path: every read of the API is a Core statement run here, on asyncpg.

Where a read goes (the primary, or a streaming standby that has replayed what the reader
must see) is decided in ReadPool.connection and nowhere else.

SQLAlchemy Core still writes the SQL (compiled once to PostgreSQL's `$n` form); asyncpg
runs it. Going through SQLAlchemy's AsyncConnection for a one-statement read cost as much
CPU as the whole rest of the request (greenlet hop, execution context, result wrapping),
halving the requests a core could serve. Writes keep the ORM and its unit of work, and
reads inside a write stay in the write's transaction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeAlias

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.expression import Executable

from stackdeck.backend.db.connections import asyncpg_options, set_up_session
from stackdeck.backend.db.listener import asyncpg_dsn
from stackdeck.backend.db.standby import Standby, is_connection_failure
from stackdeck.backend.errors import Unavailable
from stackdeck.backend.metrics import current_metrics
from stackdeck.backend.settings import Settings

_DIALECT = postgresql.dialect(paramstyle="numeric_dollar")  # type: ignore[no-untyped-call]

# An asyncpg.Record (asyncpg ships no type information): record["column"], dict(record).
Record: TypeAlias = Any


@dataclass(frozen=True, slots=True)
class ReadStatement:
    """A Core statement compiled once: its SQL and the order its named parameters go in."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def compile(cls, statement: Executable) -> ReadStatement:
        compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
        return cls(str(compiled), tuple(compiled.positiontup or ()))

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


class Reader:
    """A checked-out connection; every statement counts in the request's Server-Timing."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection

    async def fetch(self, statement: ReadStatement, **params: Any) -> list[Record]:
        metrics = current_metrics.get()
        if metrics is not None:
            metrics.statements += 1  # on the way in, so a statement that fails still counts
        started = time.perf_counter()
        rows: list[Record] | None = None
        try:
            rows = await self.connection.fetch(statement.sql, *statement.args(params))
        finally:
            if metrics is not None:
                metrics.ran(
                    statement.sql,
                    time.perf_counter() - started,
                    None if rows is None else len(rows),
                )
        return rows


# Read after COMMIT returned: the insert position is past the end of the commit record even
# with synchronous_commit off (where the write and flush positions may still be short of
# it), so a standby that has replayed this far sees the write. It may be a little further
# than needed (other sessions' WAL), which only makes a reader wait a little longer.
_WAL_POSITION = "SELECT pg_current_wal_insert_lsn()::text"


async def _reset(connection: asyncpg.Connection) -> None:
    # asyncpg's default reset is a round trip per release (UNLISTEN, RESET ALL, …) undoing
    # session state; readers set none and run single statements outside transactions, so
    # only a transaction left open by a cancelled statement needs ending.
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class ReadPool:
    """Autocommit connections for reads: no BEGIN, no COMMIT, no ping; a dead one is
    noticed on use (the request answers 503) and reconnected by the next acquire.

    With a standby, reads go to it while it is up and not lagging past the bound; a read
    that must see a given commit (its LSN) goes there once the standby has replayed it.
    """

    def __init__(
        self, pool: asyncpg.Pool, acquire_timeout: float, standby: Standby | None = None
    ) -> None:
        self.pool = pool
        self.acquire_timeout = acquire_timeout
        self.standby = standby

    @classmethod
    async def open(cls, url: str, settings: Settings, standby_url: str | None = None) -> ReadPool:
        pool = await _create_pool(url, settings)
        standby = None
        if standby_url is not None:
            standby = Standby(
                await _create_pool(standby_url, settings),
                url,
                standby_url,
                max_lag_ms=settings.replica_max_lag_ms,
                wait_ms=settings.replica_wait_ms,
                connect_timeout=settings.connect_timeout,
            )
            standby.start()
        return cls(pool, settings.pool_timeout, standby)

    @asynccontextmanager
    async def connection(
        self, min_lsn: int | None = None, *, primary: bool = False
    ) -> AsyncIterator[Reader]:
        """A connection that sees every commit up to `min_lsn`; `primary`: the primary's."""
        standby = self.standby
        pool = self.pool
        connection = None
        if standby is not None and not primary:
            connection = await standby.checkout(min_lsn, self.acquire_timeout)
            if connection is not None:
                pool = standby.pool
        if connection is None:
            connection = await self._acquire()
        try:
            yield Reader(connection)
        except Exception as exc:
            _end_if_stuck(connection, exc)
            if standby is not None and pool is standby.pool and is_connection_failure(exc):
                standby.mark_down()  # the next read goes to the primary, not here again
            raise
        finally:
            await pool.release(connection)

    async def wal_position(self) -> str:
        """The primary's WAL insert position now, as PostgreSQL writes an LSN (0/1A2B3C4D).

        On this pool, not the write's session: one raw round trip, and no second checkout
        from the write pool, where it would queue behind every other request's write.
        """
        connection = await self._acquire()
        try:
            return str(await connection.fetchval(_WAL_POSITION))
        except Exception as exc:
            _end_if_stuck(connection, exc)
            raise
        finally:
            await self.pool.release(connection)

    async def _acquire(self) -> asyncpg.Connection:
        try:
            # asyncio.timeout, not acquire(timeout=): asyncpg's wait_for makes a task per call.
            async with asyncio.timeout(self.acquire_timeout):
                return await self.pool.acquire()
        except TimeoutError:
            raise Unavailable("no database connection became free in time; retry shortly") from None

    def in_use(self) -> int:
        return self.pool.get_size() - self.pool.get_idle_size()  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self.standby is not None:
            await self.standby.close()
        await self.pool.close()


def _end_if_stuck(connection: asyncpg.Connection, exc: Exception) -> None:
    # A statement sent while the server's error was arriving on a connection it was ending (a
    # restart) leaves asyncpg's protocol mid-error: the pool opens a new one in its place.
    if isinstance(exc, asyncpg.InternalClientError):
        connection.terminate()


async def _create_pool(url: str, settings: Settings) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        # Connections open on first use: starting needs no database that answers.
        min_size=0,
        max_size=settings.read_pool_size,
        init=partial(set_up_session, settings=settings),
        reset=_reset,
        **asyncpg_options(settings),
    )

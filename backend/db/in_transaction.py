"""Compiled Core statements run on a write's own connection, inside its transaction.

A write keeps SQLAlchemy's session: its pool, its transaction (BEGIN, COMMIT, ROLLBACK),
the ORM's flushes. The statements writes send most (every write's outcome row, a new
user) skip SQLAlchemy's execution of them (the greenlet hop, the execution context, the
cursor and result wrapping: a fifth of a create's CPU, benchmarks in issue 17) and run on
the asyncpg connection the transaction holds, as reads do (db/reads.py): compiled once,
counted in Server-Timing and recorded in the X-ray the same way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from stackdeck.backend.db.reads import Reader


async def in_transaction(db: AsyncSession | AsyncConnection) -> Reader:
    """The connection of `db`'s transaction, with the transaction begun on it."""
    connection = await db.connection() if isinstance(db, AsyncSession) else db
    # Checked out just now, so reaching the pooled connection does no I/O.
    pooled = connection.sync_connection.connection  # type: ignore[union-attr]
    adapted: Any = pooled.dbapi_connection
    if adapted._transaction is None:
        # SQLAlchemy's asyncpg dialect sends BEGIN with a transaction's first statement;
        # one sent past it on the driver would run, and commit, on its own. This begins
        # the transaction exactly as that first statement would have.
        await adapted._start_transaction()
    return Reader(pooled.driver_connection)

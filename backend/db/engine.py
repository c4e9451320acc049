"""The async engine and the one session factory, with options decided rather than defaulted."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, ExceptionContext
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from stackdeck.backend.db.connections import engine_connect_args, session_setup_sql
from stackdeck.backend.metrics import current_metrics
from stackdeck.backend.settings import Settings

_STARTED_AT = "stackdeck_statement_started_at"


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        url,
        # Values never reach logs or error messages: they may be user data or secrets.
        hide_parameters=True,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout,
        # No ping per checkout: a dead connection is detected on use, which invalidates
        # the pool, so the next request gets a fresh connection (one round trip saved).
        pool_pre_ping=False,
        connect_args=engine_connect_args(settings),
    )
    _set_up_sessions(engine, settings)
    _count_statements(engine)
    return engine


def _set_up_sessions(engine: AsyncEngine, settings: Settings) -> None:
    sql = session_setup_sql(settings)
    if sql is None:
        return

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(dbapi_connection: Any, _record: Any) -> None:
        # On the driver's connection itself, outside the dialect's transactions, so the
        # pool's rollback on checkin does not undo it.
        dbapi_connection.run_async(lambda connection: connection.execute(sql))


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _count_statements(engine: AsyncEngine) -> None:
    """Feed the request's statement count and database time from the engine's cursor events."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Connection, *_: Any) -> None:
        metrics = current_metrics.get()
        if metrics is not None:
            # Counted on the way in, so a statement that fails still counts.
            metrics.statements += 1
            conn.info[_STARTED_AT] = time.perf_counter()

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(conn: Connection, *_: Any) -> None:
        _add_db_time(conn)

    @event.listens_for(engine.sync_engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        if context.connection is not None:
            _add_db_time(context.connection)


def _add_db_time(conn: Connection) -> None:
    started = conn.info.pop(_STARTED_AT, None)
    metrics = current_metrics.get()
    if metrics is not None and started is not None:
        metrics.db_seconds += time.perf_counter() - started

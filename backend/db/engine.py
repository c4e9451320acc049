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

from stackdeck.backend.db.connections import (
    RECORD_CHANGES,
    engine_connect_args,
    session_setup_sql,
)
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
    if settings.pool_mode == "transaction" and settings.xray:
        # No session to set it on: each transaction turns the X-ray's triggers on itself.
        @event.listens_for(engine.sync_engine, "begin")
        def _began(connection: Connection) -> None:
            connection.exec_driver_sql(RECORD_CHANGES)

    sql = session_setup_sql(settings, records_changes=settings.xray)
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
    """Feed the request's statements and database time from the engine's cursor events."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _before(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        metrics = current_metrics.get()
        if metrics is not None:
            # Counted on the way in, so a statement that fails still counts.
            metrics.statements += 1
            conn.info[_STARTED_AT] = (time.perf_counter(), statement)

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _after(conn: Connection, cursor: Any, *_: Any) -> None:
        _ran(conn, cursor.rowcount if cursor.rowcount >= 0 else None)

    @event.listens_for(engine.sync_engine, "handle_error")
    def _failed(context: ExceptionContext) -> None:
        if context.connection is not None:
            _ran(context.connection, None)


def _ran(conn: Connection, rows: int | None) -> None:
    started = conn.info.pop(_STARTED_AT, None)
    metrics = current_metrics.get()
    if metrics is not None and started is not None:
        at, statement = started
        metrics.ran(statement, time.perf_counter() - at, rows)

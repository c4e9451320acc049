"""Alembic environment: async engine, every model imported, the URL from stackdeck's settings.

A caller that already holds a connection (the migrations service) passes it as
config.attributes["connection"], inside a transaction it has begun and holding the migration
lock: the run then happens in that transaction, and the caller commits or rolls back.
pytest-alembic passes an AsyncEngine there instead. Otherwise (plain `alembic upgrade head`)
this file connects itself and takes the same lock, so a run from `alembic` never
interleaves with one from `stackdeck migrate` or the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from alembic.util import CommandError
from sqlalchemy import func, pool, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from stackdeck.backend import exits
from stackdeck.backend.db.locks import MIGRATION_LOCK_KEY
from stackdeck.backend.db.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


@contextmanager
def database_url() -> Iterator[str]:
    """The URL given by the caller, else STACKDECK_DATABASE_URL, else the embedded server's
    (released when the block ends: the server stops if no other process uses it)."""
    given = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if given:
        yield str(given)
        return
    from stackdeck.backend.db.embedded import database_for
    from stackdeck.backend.settings import Settings

    settings = Settings()
    # DDL on a session of its own: the direct URL when the app goes through a pooler.
    url = settings.direct_database_url_value()
    if url is not None:
        yield url
        return
    with database_for(settings) as embedded:
        yield embedded.database_url_value() or ""


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=False,
        on_version_apply=config.attributes.get("on_version_apply"),
    )


def run_on_connection(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def run_locked(connection: Connection) -> None:
    """One transaction: the lock (only for commands that change the version), then the run."""
    _configure(connection)
    if context.get_context().opts.get("destination_rev") is not None:
        locked = connection.scalar(select(func.pg_try_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        if not locked:
            raise CommandError("a migration is running; try again when it has finished")
    with context.begin_transaction():
        context.run_migrations()


async def run_async(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        # The lock's transaction is Alembic's transaction: commit it here, or nothing sticks.
        await connection.run_sync(run_locked)
        await connection.commit()


async def run_on_own_engine(url: str) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        await run_async(engine)
    finally:
        await engine.dispose()


def run_offline() -> None:
    # SQL for review only: no database is needed to render PostgreSQL's dialect.
    context.configure(
        dialect_name="postgresql",
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif isinstance(connection := config.attributes.get("connection"), AsyncEngine):
    asyncio.run(run_async(connection))
elif connection is not None:
    run_on_connection(connection)
else:
    # Plain `alembic`: SIGTERM and SIGHUP end it as an exception would, releasing the server.
    with exits.handle_signals(), database_url() as url:
        asyncio.run(run_on_own_engine(url))

"""Alembic environment: async engine, every model imported, the URL from stackdeck's settings.

A caller that already holds a connection (the migrations service, tests) passes it as
config.attributes["connection"], so the run happens on that connection and its locks.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from backend.db.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    """The URL given by the caller, else STACKDECK_DATABASE_URL, else the embedded server."""
    given = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if given:
        return str(given)
    from backend.settings import Settings

    settings = Settings()
    url = settings.database_url_value()
    if url is not None:
        return url
    from backend.db.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.data_dir).start()


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=False,
    )


def run_on_connection(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async() -> None:
    engine = create_async_engine(database_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(run_on_connection)
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
elif (connection := config.attributes.get("connection")) is not None:
    run_on_connection(connection)
else:
    asyncio.run(run_async())

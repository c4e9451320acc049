"""The test PostgreSQL: one server per session, a migrated template, a fresh clone per test."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from stackdeck.backend.db.embedded import EmbeddedPostgres
from stackdeck.backend.db.listener import (
    asyncpg_dsn as asyncpg_dsn,
)  # the one DSN conversion, shared
from stackdeck.backend.settings import normalize_database_url

REPO_ROOT = Path(__file__).resolve().parents[1]


def alembic_config(url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["url"] = url
    config.attributes["configure_logger"] = False
    return config


@dataclass
class PgCluster:
    """A PostgreSQL server the tests may create databases on."""

    admin_url: str  # a maintenance database (postgres) on the server
    embedded: EmbeddedPostgres | None = None

    def url_for(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(False)

    async def execute(self, sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(self.admin_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create_database(self, template: str | None = None) -> str:
        name = f"sdt_{os.getpid()}_{uuid.uuid4().hex[:10]}"
        clause = f" TEMPLATE {template}" if template else ""
        await self.execute(f"CREATE DATABASE {name}{clause}")
        return name

    async def drop_database(self, name: str) -> None:
        await self.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_cluster(data_dir: Path) -> PgCluster:
    external = os.environ.get("STACKDECK_TEST_DATABASE_URL")
    if external:
        return PgCluster(normalize_database_url(external))
    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    return PgCluster(embedded.url("postgres"), embedded)


async def create_migrated_template(cluster: PgCluster) -> str:
    name = await cluster.create_database()
    config = alembic_config(cluster.url_for(name))
    import anyio

    await anyio.to_thread.run_sync(command.upgrade, config, "head")
    return name


async def truncate_all(url: str) -> None:
    """Empty every table but alembic_version and restart ids: a clean slate in milliseconds."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tables = await conn.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables"
            " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        if tables:
            names = ", ".join(t["name"] for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()

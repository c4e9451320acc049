"""The length CHECKs on users and posts, straight at the database, where the seed's COPY and
psql meet no API validation: a limit counts characters, however many bytes they take."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from stackdeck.backend.db.models import Base
from stackdeck.backend.services.migrations import MigrationsService
from tests.migrations import BELOW_HEAD, connection, fetch

CHECKS = """
    SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS definition,
           convalidated
    FROM pg_constraint WHERE contype = 'c' AND connamespace = 'public'::regnamespace
    ORDER BY 1, 2
"""

# What refuses a name or title too long is its column's varchar(n), before any CHECK.
TOO_LONG = "22001"  # string_data_right_truncation

# (value, the CHECK or SQLSTATE that refuses it, or None when it is stored)
NAMES = [
    ("A", None),
    (" A ", None),
    ("x" * 100, None),
    ("é" * 100, None),  # 200 bytes
    ("😀" * 100, None),  # 400 bytes
    ("x" * 101, TOO_LONG),
    ("é" * 101, TOO_LONG),
    ("", "ck_users_name_length"),
    ("   ", "ck_users_name_length"),
]
TITLES = [
    ("t", None),
    ("x" * 200, None),
    ("é" * 200, None),
    ("😀" * 200, None),
    ("x" * 201, TOO_LONG),
    ("é" * 201, TOO_LONG),
    ("", "ck_posts_title_length"),
]
BODIES = [
    ("", None),
    ("x" * 50_000, None),
    ("é" * 50_000, None),  # 100,000 bytes: over the limit in bytes, not in characters
    ("😀" * 50_000, None),
    ("x" * 50_001, "ck_posts_body_length"),
    ("é" * 50_001, "ck_posts_body_length"),
    ("é" * 49_999 + "xx", "ck_posts_body_length"),  # 100,000 bytes too, one character over
]


def described(value: str) -> str:
    """A value short enough for an assertion's message."""
    if len(value) <= 10:
        return repr(value)
    return f"{value[:3]!r}… ({len(value)} characters, {len(value.encode())} bytes)"


def expected(cases: list[tuple[str, str | None]]) -> dict[str, str | None]:
    return {described(value): refused for value, refused in cases}


async def refused_by(conn: asyncpg.Connection, sql: str, *args: object) -> str | None:
    """The CHECK (or else the SQLSTATE) that refuses the statement, None when it succeeds;
    rolled back either way."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await conn.execute(sql, *args)
    except asyncpg.CheckViolationError as exc:
        return str(exc.constraint_name)
    except asyncpg.StringDataRightTruncationError as exc:
        return str(exc.sqlstate)
    finally:
        await transaction.rollback()
    return None


async def test_names_titles_and_bodies_are_limited_in_characters_not_bytes(
    database_url: str,
) -> None:
    async with connection(database_url) as conn:
        user_id = await conn.fetchval(
            "INSERT INTO users (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id"
        )
        names = {
            described(value): await refused_by(
                conn, "INSERT INTO users (name, email) VALUES ($1, 'b@example.com')", value
            )
            for value, _ in NAMES
        }
        titles = {
            described(value): await refused_by(
                conn, "INSERT INTO posts (user_id, title) VALUES ($1, $2)", user_id, value
            )
            for value, _ in TITLES
        }
        bodies = {
            described(value): await refused_by(
                conn,
                "INSERT INTO posts (user_id, title, body) VALUES ($1, 't', $2)",
                user_id,
                value,
            )
            for value, _ in BODIES
        }
        # An update is checked as an insert is.
        post_id = await conn.fetchval(
            "INSERT INTO posts (user_id, title) VALUES ($1, 't') RETURNING id", user_id
        )
        longest = await refused_by(
            conn, "UPDATE posts SET body = $1 WHERE id = $2", "é" * 50_000, post_id
        )
        too_long = await refused_by(
            conn, "UPDATE posts SET body = $1 WHERE id = $2", "é" * 50_001, post_id
        )
    assert names == expected(NAMES)
    assert titles == expected(TITLES)
    assert bodies == expected(BODIES)
    assert (longest, too_long) == (None, "ck_posts_body_length")


@pytest.fixture
async def empty_engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(empty_database_url, poolclass=pool.NullPool)
    yield engine
    await engine.dispose()


async def test_the_models_checks_are_the_migrated_ones(
    database_url: str, empty_database_url: str, empty_engine: AsyncEngine
) -> None:
    # Alembic's autogenerate compares no CHECK expression: PostgreSQL's own rendering does.
    async with empty_engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    migrated = await fetch(database_url, CHECKS)
    assert {c["conname"] for c in migrated} >= {
        "ck_users_name_length",
        "ck_posts_title_length",
        "ck_posts_body_length",
    }
    assert all(c["convalidated"] for c in migrated)
    assert await fetch(empty_database_url, CHECKS) == migrated


async def test_the_downgrade_puts_the_old_checks_back(
    database_url: str, empty_database_url: str, empty_engine: AsyncEngine
) -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        at_head = await fetch(database_url, CHECKS)
        await MigrationsService(engine).downgrade()
        downgraded = await fetch(database_url, CHECKS)
        await MigrationsService(empty_engine).upgrade(BELOW_HEAD)
        assert downgraded == await fetch(empty_database_url, CHECKS) != at_head
        await MigrationsService(engine).upgrade()
        assert await fetch(database_url, CHECKS) == at_head
    finally:
        await engine.dispose()

"""Plain `alembic` from the repo root, with STACKDECK_DATABASE_URL: upgrade, check, downgrade."""

from __future__ import annotations

import asyncpg

from tests.pg import asyncpg_dsn
from tests.test_embedded import alembic


async def tables(url: str) -> set[str]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_alembic_upgrade_check_and_downgrade(empty_database_url: str) -> None:
    # A plain postgresql:// URL, as a user would paste it, is converted to asyncpg.
    env = {"STACKDECK_DATABASE_URL": empty_database_url.replace("+asyncpg", "")}
    up = alembic("upgrade", "head", env=env)
    assert up.returncode == 0, up.stderr
    at_head = await tables(empty_database_url)
    assert {"users", "posts", "transaction_log", "idempotency_keys"} <= at_head

    check = alembic("check", env=env)
    assert check.returncode == 0, check.stderr + check.stdout
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    down = alembic("downgrade", "0002_posts", env=env)
    assert down.returncode == 0, down.stderr
    one_step_down = await tables(empty_database_url)
    assert one_step_down < at_head  # the newest revision's table is gone
    assert {"users", "posts"} <= one_step_down

    history = alembic("history", env=env)
    assert history.stdout.count("->") >= 2

    base = alembic("downgrade", "base", env=env)
    assert base.returncode == 0, base.stderr
    assert await tables(empty_database_url) == {"alembic_version"}

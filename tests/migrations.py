"""Helpers for the migration tests: throw-away script directories, SQL probes, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from stackdeck.backend.db.locks import MIGRATION_LOCK_KEY, lock_is_held_sql
from tests.pg import asyncpg_dsn
from tests.processes import REPO_ROOT

PRE_DRAFTS = "0005_idempotency_keys"  # below it, posts have no published column
HEAD = "0009_length_checks"
BELOW_HEAD = "0008_sort_indexes"
HISTORY = [
    "0001_users",
    "0002_posts",
    "0003_transaction_log",
    PRE_DRAFTS,
    "0006_posts_published",
    "0007_xray",
    BELOW_HEAD,
    HEAD,
]


def revision_file(revision: str, down_revision: str, upgrade: str, downgrade: str = "pass") -> str:
    """A revision module whose upgrade()/downgrade() bodies are the given statements."""
    return (
        f'"""{revision} (test)\n\nRevision ID: {revision}\nRevises: {down_revision}\n'
        f'Create Date: 2026-11-23 21:00:00\n"""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {down_revision!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    {downgrade}\n"
    )


def script_directory(tmp_path: Path, extra: dict[str, str]) -> Path:
    """A copy of the project's migrations with `extra` revision files added to it."""
    root = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", root, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in extra.items():
        (root / "versions" / f"{name}.py").write_text(source)
    return root


@asynccontextmanager
async def connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield conn
    finally:
        await conn.close()


async def fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with connection(url) as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def versions(url: str) -> list[str]:
    """alembic_version's rows ([] when the table does not exist)."""
    async with connection(url) as conn:
        if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            return []
        return [r["version_num"] for r in await conn.fetch("SELECT * FROM alembic_version")]


async def tables(url: str) -> set[str]:
    rows = await fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def migration_lock_held(url: str) -> bool:
    async with connection(url) as conn:
        return bool(await conn.fetchval(lock_is_held_sql(MIGRATION_LOCK_KEY)))


async def migration_outcomes(url: str) -> list[dict[str, Any]]:
    return await fetch(
        url,
        "SELECT operation, outcome, reason, statement_count, request_id FROM transaction_log "
        "WHERE operation LIKE 'migrations.%' ORDER BY id",
    )


def stackdeck_migrate(
    *args: str, url: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STACKDECK_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "stackdeck.backend.cli", "migrate", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )

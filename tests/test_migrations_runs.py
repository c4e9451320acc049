"""Migration runs under stress: failures roll back whole, the lock serialises, data survives."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Column, MetaData, Text, pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from stackdeck.backend.db.locks import MIGRATION_LOCK_KEY
from stackdeck.backend.db.models import Base
from stackdeck.backend.errors import MigrationInterrupted, MigrationRunning
from stackdeck.backend.services.migrations import MigrationsService
from tests.helpers import eventually
from tests.migrations import (
    BELOW_HEAD,
    HEAD,
    HISTORY,
    PRE_DRAFTS,
    connection,
    fetch,
    migration_lock_held,
    migration_outcomes,
    revision_file,
    script_directory,
    tables,
    versions,
)
from tests.processes import REPO_ROOT, backend_process
from tests.test_embedded import alembic


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(database_url, poolclass=pool.NullPool)
    yield eng
    await eng.dispose()


@pytest.fixture
async def empty_engine(empty_database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_async_engine(empty_database_url, poolclass=pool.NullPool)
    yield eng
    await eng.dispose()


# -- a failing revision ----------------------------------------------------------------------

GOOD = revision_file(
    "0005_good",
    HEAD,
    'op.create_table("good_table", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("good_table")',
)
BROKEN = revision_file(
    "0006_broken",
    "0005_good",
    'op.create_table("half_done", sa.Column("id", sa.Integer)); '
    'op.execute("SELECT missing_column FROM posts")',
)


async def test_a_failing_revision_rolls_the_whole_run_back_and_is_recorded(
    tmp_path: Path, app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    location = script_directory(tmp_path, {"0005_good": GOOD, "0006_broken": BROKEN})
    app.state.migrations = MigrationsService(app.state.engine, script_location=location)
    response = await client.post("/migrations/upgrade", json={"target": "head"})

    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Migration failed"
    detail = body["detail"]
    assert "failed at revision 0006_broken" in detail
    assert 'column "missing_column" does not exist' in detail  # PostgreSQL's own words
    assert f"the database is still at {HEAD}" in detail
    assert "Traceback" not in response.text and "SELECT missing_column" not in detail

    # 0005 ran fine, but the run is one transaction: nothing of it stayed.
    assert await versions(database_url) == [HEAD]
    assert not {"good_table", "half_done"} & await tables(database_url)
    assert not await migration_lock_held(database_url)
    outcomes = await migration_outcomes(database_url)
    assert [(o["operation"], o["outcome"]) for o in outcomes] == [
        ("migrations.upgrade", "rolled_back")
    ]
    assert "0006_broken" in outcomes[0]["reason"]
    status = (await client.get("/migrations")).json()
    assert status["current"] == [HEAD] and status["pending"] == 2


async def test_a_revision_added_while_running_shows_up_without_a_restart(
    tmp_path: Path, engine: AsyncEngine
) -> None:
    location = script_directory(tmp_path, {})
    service = MigrationsService(engine, script_location=location)
    assert (await service.status()).at_head is True
    (location / "versions" / "0005_good.py").write_text(GOOD)
    status = await service.status()
    assert status.heads == ["0005_good"] and status.pending == 1
    assert (await service.upgrade()).applied == ["0005_good"]


# -- the lock --------------------------------------------------------------------------------

PROBE = revision_file(
    "0005_probe",
    HEAD,
    'op.execute("CREATE TABLE lock_probe AS SELECT pg_backend_pid() AS pid, EXISTS ('
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    f"AND pid = pg_backend_pid() AND classid = {MIGRATION_LOCK_KEY >> 32} "
    f'AND objid = {MIGRATION_LOCK_KEY & 0xFFFFFFFF}) AS held")',
    'op.drop_table("lock_probe")',
)
SLOW = revision_file("0005_slow", HEAD, 'op.execute("SELECT pg_sleep(60)")')


async def test_the_lock_is_held_by_the_connection_alembic_runs_on_and_the_run_sticks(
    tmp_path: Path, engine: AsyncEngine, database_url: str
) -> None:
    location = script_directory(tmp_path, {"0005_probe": PROBE})
    run = await MigrationsService(engine, script_location=location).upgrade("head")
    assert run.applied == ["0005_probe"]
    # Seen from another connection after the run: the DDL and the version bump committed...
    assert await versions(database_url) == ["0005_probe"]
    probe = await fetch(database_url, "SELECT pid, held FROM lock_probe")
    # ...and the DDL ran on the very backend that held the lock, while it held it.
    assert probe[0]["held"] is True
    assert not await migration_lock_held(database_url)


async def test_a_lock_holder_that_dies_releases_the_lock_and_changes_nothing(
    tmp_path: Path, engine: AsyncEngine, database_url: str
) -> None:
    service = MigrationsService(
        engine, script_location=script_directory(tmp_path, {"0005_slow": SLOW})
    )
    first = asyncio.create_task(service.upgrade("head"))
    await eventually(lambda: migration_lock_held(database_url))

    started = time.monotonic()
    with pytest.raises(MigrationRunning):
        await MigrationsService(engine).upgrade("head")  # another "backend": refused at once
    assert time.monotonic() - started < 10  # not the 60 s the first run sleeps: no wait
    with pytest.raises(MigrationRunning):  # Alembic runs one command at a time per process
        await service.sql(HEAD, "head")

    async def kill_the_sleeper() -> bool:
        # The lock is taken before the slow revision's statement starts: wait for it.
        async with connection(database_url) as admin:
            killed = await admin.fetchval(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
            )
        return killed is True

    await eventually(kill_the_sleeper)
    with pytest.raises(MigrationInterrupted) as interrupted:
        await asyncio.wait_for(first, 10)
    assert f"the database is still at {HEAD}" in interrupted.value.detail
    await eventually(lambda: _not(migration_lock_held(database_url)))
    assert await versions(database_url) == [HEAD]
    # Recorded on a fresh connection, since the run's own was killed.
    assert [o["outcome"] for o in await migration_outcomes(database_url)] == ["rolled_back"]


async def _not(check: Any) -> bool:
    return not await check


async def test_two_upgrades_and_the_cli_together_one_runs_the_others_get_409(
    client: httpx.AsyncClient,
    app: FastAPI,
    database_url: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    assert (await client.post("/migrations/downgrade", json={"target": "-1"})).status_code == 200
    # The winner waits on the blocker below for as long as the others take on a busy machine.
    app.state.migrations = MigrationsService(app.state.engine, lock_timeout_ms=60_000)
    other = ExitStack()
    request.addfinalizer(other.close)
    backend = await asyncio.to_thread(
        other.enter_context,
        backend_process(tmp_path, env={"STACKDECK_DATABASE_URL": database_url}),
    )
    async with connection(database_url) as blocker:
        # Hold a lock the head revision's DDL on posts waits for (a trigger, a column): the
        # winner stays mid-run.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE posts IN ROW EXCLUSIVE MODE")
        requests = [
            asyncio.create_task(client.post("/migrations/upgrade", json={"target": "head"}))
            for _ in range(2)
        ]
        done, running = await asyncio.wait(requests, timeout=10, return_when="FIRST_COMPLETED")
        assert len(done) == 1 and len(running) == 1
        refused = done.pop().result()
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"].startswith("a migration is running")

        cli = await asyncio.to_thread(_cli, "upgrade", database_url)
        assert cli.returncode == 3, cli.stderr
        assert "a migration is running" in cli.stderr
        plain = await asyncio.to_thread(
            alembic, "upgrade", "head", env={"STACKDECK_DATABASE_URL": database_url}
        )
        assert plain.returncode != 0 and "a migration is running" in plain.stderr
        # Another backend process on the same database.
        elsewhere = await asyncio.to_thread(
            httpx.post, f"{backend.url}/api/v1/migrations/upgrade", json={}, timeout=10
        )
        assert elsewhere.status_code == 409, elsewhere.text
        await transaction.rollback()

    winner = await asyncio.wait_for(running.pop(), 20)
    assert winner.status_code == 200, winner.text
    assert winner.json()["applied"] == [HEAD]
    assert await versions(database_url) == [HEAD]  # one row, at head
    outcomes = await migration_outcomes(database_url)
    assert [o["outcome"] for o in outcomes] == ["committed", "committed"]  # down, then up


def _cli(action: str, url: str) -> Any:
    from tests.migrations import stackdeck_migrate

    return stackdeck_migrate(action, url=url)


# -- data survives the round trip ------------------------------------------------------------


def _preserving_floor() -> str:
    """The lowest revision reachable from head through revisions that claim to keep data."""
    versions_dir = REPO_ROOT / "migrations" / "versions"
    modules = {}
    for path in versions_dir.glob("*.py"):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[module.revision] = module
    revision = HEAD
    while getattr(modules[revision], "data_preserving", False):
        revision = modules[revision].down_revision
    return revision


SNAPSHOT = {
    "users": "SELECT id, name, email, created_at, updated_at FROM users ORDER BY id",
    "posts": "SELECT id, user_id, title, body, published, created_at FROM posts ORDER BY id",
}


async def test_downgrade_and_upgrade_bring_the_same_rows_back(
    client: httpx.AsyncClient, database_url: str
) -> None:
    floor = _preserving_floor()
    assert floor == PRE_DRAFTS  # the revisions above it claim to keep data; the keys' one not
    ada = (await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})).json()
    bob = (await client.post("/users", json={"name": "Bob", "email": "bob@example.com"})).json()
    for user, title, published in [
        (ada, "Engines", True),
        (ada, "Notes on the engine", False),
        (bob, "[draft] is only a title here", False),
        (bob, "Hello", True),
    ]:
        created = await client.post(
            "/posts",
            json={"user_id": user["id"], "title": title, "body": "b", "published": published},
        )
        assert created.status_code == 201, created.text
    before = {name: await fetch(database_url, sql) for name, sql in SNAPSHOT.items()}

    down = await client.post("/migrations/downgrade", json={"target": floor})
    assert down.status_code == 200, down.text
    titles = await fetch(database_url, "SELECT title FROM posts ORDER BY id")
    assert [t["title"] for t in titles] == [
        "Engines",
        "[draft] Notes on the engine",
        "[draft] [draft] is only a title here",
        "Hello",
    ]
    assert (await client.post("/migrations/upgrade", json={"target": "head"})).status_code == 200
    after = {name: await fetch(database_url, sql) for name, sql in SNAPSHOT.items()}
    assert after == before


async def test_a_downgrade_that_would_lose_data_refuses_and_changes_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    ada = (await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})).json()
    long_draft = {"user_id": ada["id"], "title": "x" * 195, "published": False}
    assert (await client.post("/posts", json=long_draft)).status_code == 201
    # Through the drafts revision, whose downgrade refuses: the whole run rolls back.
    response = await client.post("/migrations/downgrade", json={"target": PRE_DRAFTS})
    assert response.status_code == 500
    assert (
        "cannot downgrade: 1 unpublished post(s) have titles over 192" in response.json()["detail"]
    )
    assert await versions(database_url) == [HEAD]
    rows = await fetch(database_url, "SELECT title, published FROM posts")
    assert rows == [{"title": "x" * 195, "published": False}]


# -- drift -----------------------------------------------------------------------------------


def _models_with_an_extra_column() -> MetaData:
    """A copy of the models with posts.subtitle added; Base.metadata itself is untouched."""
    copy = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(copy)
    copy.tables["posts"].append_column(Column("subtitle", Text, nullable=True))
    return copy


async def test_drift_is_detected_after_a_model_changes(engine: AsyncEngine) -> None:
    changed = await MigrationsService(engine, metadata=_models_with_an_extra_column()).status()
    assert changed.drift.detected is True
    assert changed.drift.differences == ["add_column posts.subtitle"]
    unchanged = await MigrationsService(engine).status()
    assert unchanged.drift.detected is False and "subtitle" not in Base.metadata.tables["posts"].c


# -- the CLI ---------------------------------------------------------------------------------


async def test_cli_exit_codes(empty_database_url: str, empty_engine: AsyncEngine) -> None:
    import json

    from tests.migrations import stackdeck_migrate

    def run(*args: str, url: str = empty_database_url) -> Any:
        return stackdeck_migrate(*args, url=url)

    status = await asyncio.to_thread(run, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pending"] == len(HISTORY)

    unknown = await asyncio.to_thread(run, "upgrade", "nope")
    assert unknown.returncode == 2 and "known revisions: base, 0001_users" in unknown.stderr

    up = await asyncio.to_thread(run, "upgrade")
    assert up.returncode == 0, up.stderr
    assert f"upgrade: base (empty) -> {HEAD}" in up.stdout

    sql = await asyncio.to_thread(run, "sql", PRE_DRAFTS)
    assert sql.returncode == 0 and "DROP COLUMN published" in sql.stdout
    assert await versions(empty_database_url) == [HEAD]

    async with connection(empty_database_url) as holder:
        await holder.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        busy = await asyncio.to_thread(run, "downgrade")
    assert busy.returncode == 3 and "a migration is running" in busy.stderr

    down = await asyncio.to_thread(run, "downgrade", "--json")
    assert down.returncode == 0 and json.loads(down.stdout)["to"] == [BELOW_HEAD]

    async with connection(empty_database_url) as conn:  # a draft the old schema can't hold
        await asyncio.to_thread(run, "upgrade")
        await conn.execute("INSERT INTO users (name, email) VALUES ('A', 'a@example.com')")
        await conn.execute(
            "INSERT INTO posts (user_id, title, published) "
            "SELECT id, repeat('x', 199), false FROM users"
        )
    failed = await asyncio.to_thread(run, "downgrade", PRE_DRAFTS)
    assert failed.returncode == 1 and "cannot downgrade" in failed.stderr
    assert "Traceback" not in failed.stderr

    dead = "postgresql://stackdeck:s3cret@127.0.0.1:9/nowhere"
    unreachable = await asyncio.to_thread(run, "status", url=dead)
    assert unreachable.returncode == 4 and "s3cret" not in unreachable.stderr


def test_cli_migrates_the_embedded_postgres_when_no_url_is_set(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "STACKDECK_DATABASE_URL"}
    env["STACKDECK_DATA_DIR"] = str(tmp_path / "data")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stackdeck.backend.cli", "migrate", *args],
            cwd=tmp_path,  # not the repository: alembic.ini is found beside the package
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )

    up = run("upgrade")
    assert up.returncode == 0, up.stderr
    status = run("status")
    assert status.returncode == 0, status.stderr
    assert f"current: {HEAD}" in status.stdout and "at head" in status.stdout

"""`stackdeck seed`: realistic, deterministic, appends safely, lands whole or not at all."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from stackdeck.backend.errors import Conflict, Unavailable
from stackdeck.backend.main import create_app
from stackdeck.backend.repositories.bulk import BulkRepository
from stackdeck.backend.services.seeding import SeedService
from tests.conftest import make_settings
from tests.pg import PgCluster
from tests.test_transactions import count, log_rows


async def seed(app: FastAPI, users: int, per_user: int, seed: int = 0) -> Any:
    async with app.state.sessions() as session:
        return await SeedService(session).seed(users, per_user, seed)


async def test_seed_writes_realistic_rows_and_logs_one_outcome(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    result = await seed(app, 300, 3)
    assert (result.users, result.posts, result.first_user_id) == (300, 900, 1)
    assert await count(database_url, "users") == 300
    assert await count(database_url, "posts") == 900
    page = (await client.get("/users", params={"limit": 5, "embed": "posts"})).json()["items"]
    for user in page:
        assert " " in user["name"] and "@" in user["email"] and user["post_count"] == 3
        assert all(p["title"] and p["body"] for p in user["posts"])
    lengths = [len(p["body"]) for u in page for p in u["posts"]]
    assert max(lengths) > 2 * min(lengths)  # bodies of varied length
    [row] = await log_rows(database_url)
    assert (row["operation"], row["outcome"]) == ("users.seed", "committed")
    # Analyzed before it committed: the planner has column statistics for the new rows.
    async with app.state.sessions() as session:
        analyzed = (
            await session.execute(
                text(
                    "SELECT DISTINCT tablename FROM pg_stats WHERE tablename IN ('users', 'posts')"
                )
            )
        ).scalars()
        assert set(analyzed) == {"users", "posts"}


async def test_seeding_twice_appends_with_fresh_ids_and_emails(
    app: FastAPI, client: httpx.AsyncClient, database_url: str
) -> None:
    await seed(app, 50, 1)
    again = await seed(app, 50, 1)
    assert again.first_user_id == 51
    assert await count(database_url, "users") == 100
    created = await client.post("/users", json={"name": "After", "email": "after@x.io"})
    assert created.json()["id"] == 101  # the sequence moved past the seeded ids


async def test_same_seed_same_data(pg: PgCluster, template_db: str, app: FastAPI) -> None:
    await seed(app, 20, 2, seed=42)
    other_name = await pg.create_database(template=template_db)
    try:
        other = create_app(make_settings(pg.url_for(other_name)))
        async with LifespanManager(other):
            await seed(other, 20, 2, seed=42)
            rows = []
            for application in (app, other):
                async with application.state.sessions() as session:
                    result = await session.execute(
                        text(
                            "SELECT u.name, u.email, p.title, p.body FROM users u "
                            "JOIN posts p ON p.user_id = u.id ORDER BY p.id"
                        )
                    )
                    rows.append(result.all())
        assert rows[0] == rows[1] and len(rows[0]) == 40
    finally:
        await pg.drop_database(other_name)


async def test_a_seed_that_fails_halfway_writes_nothing(
    app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: BulkRepository, rows: Any, **options: Any) -> None:
        raise ConnectionResetError("lost while copying posts")

    monkeypatch.setattr(BulkRepository, "copy_posts", broken)
    with pytest.raises(Unavailable):
        await seed(app, 100, 2)
    assert await count(database_url, "users") == 0
    [row] = await log_rows(database_url)
    assert row["outcome"] == "rolled_back"


async def test_seed_command_line(database_url: str) -> None:
    env = {**os.environ, "STACKDECK_DATABASE_URL": database_url}
    result = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "stackdeck.backend.cli",
            "seed",
            "--users",
            "120",
            "--posts-per-user",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "seeded 120 users (ids from 1) and 240 posts" in result.stdout
    assert await count(database_url, "posts") == 240
    bad = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "stackdeck.backend.cli", "seed", "--users", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


SCHEMA = """
    SELECT pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i
    WHERE i.indrelid IN ('users'::regclass, 'posts'::regclass)
    UNION ALL
    SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
           || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END
    FROM pg_constraint WHERE conrelid IN ('users'::regclass, 'posts'::regclass)
    ORDER BY 1
"""


async def schema_of(app: FastAPI) -> list[str]:
    async with app.state.sessions() as session:
        return list((await session.execute(text(SCHEMA))).scalars())


async def test_seed_into_empty_tables_builds_every_index_and_key_back(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await schema_of(app)
    assert any("uq_users_email_lower" in d for d in before)
    assert any("fk_posts_user_id_users" in d for d in before)
    suspended: list[object] = []
    original = BulkRepository.suspend_indexes

    async def spy(self: BulkRepository) -> Any:
        suspended.append(result := await original(self))
        return result

    monkeypatch.setattr(BulkRepository, "suspend_indexes", spy)
    await seed(app, 200, 2)
    assert suspended, "an empty database takes the build-indexes-afterwards path"
    assert await schema_of(app) == before
    # ... and they hold: the email index case-insensitively, the foreign key.
    [user] = (await client.get("/users", params={"limit": 1})).json()["items"]
    taken = await client.post("/users", json={"name": "Twin", "email": user["email"].upper()})
    assert taken.status_code == 409
    async with app.state.sessions() as session:
        with pytest.raises(Exception, match="fk_posts_user_id_users"):
            await session.execute(text("INSERT INTO posts (user_id, title) VALUES (99999, 't')"))


async def test_the_first_reader_after_a_seed_into_empty_tables_dirties_no_page(
    app: FastAPI,
) -> None:
    # The rows went in frozen (COPY FREEZE): a reader has no hint bits to set, which would
    # dirty, and with data checksums WAL-log, every page of the load.
    await seed(app, 500, 3)
    dirtied = {}
    async with app.state.sessions() as session:
        # Written out first, as a big load's pages are long before anyone reads them: a page
        # still dirty in shared buffers takes hint bits for free.
        try:
            await session.execute(text("CHECKPOINT"))
        except DBAPIError as exc:
            pytest.skip(f"this role may not CHECKPOINT: {exc.orig}")
        for table in ("users", "posts"):
            plan = await session.execute(
                text(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM {table}")
            )
            dirtied[table] = plan.scalar_one()[0]["Plan"]["Shared Dirtied Blocks"]
    assert dirtied == {"users": 0, "posts": 0}


async def test_small_seed_onto_bigger_tables_maintains_indexes_and_lets_readers_in(
    app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(app, 100, 2)

    async def never(self: BulkRepository) -> Any:
        raise AssertionError("a small seed must not drop the indexes of a bigger table")

    monkeypatch.setattr(BulkRepository, "suspend_indexes", never)
    original = BulkRepository.copy_posts
    read_during_seed: list[int] = []

    async def copy_posts_then_read(self: BulkRepository, rows: Any, **options: Any) -> None:
        await original(self, rows, **options)
        # Another connection reads the table while the seed's transaction is open.
        read_during_seed.append(await asyncio.wait_for(count(database_url, "users"), 5))

    monkeypatch.setattr(BulkRepository, "copy_posts", copy_posts_then_read)
    result = await seed(app, 10, 1)
    assert result.first_user_id == 101 and read_during_seed == [100]
    assert await count(database_url, "users") == 110
    assert await count(database_url, "posts") == 210


@pytest.mark.parametrize("tables", ["small: indexes built after", "big: indexes maintained"])
async def test_a_seed_whose_email_is_taken_writes_nothing_and_says_why(
    app: FastAPI, database_url: str, monkeypatch: pytest.MonkeyPatch, tables: str
) -> None:
    # Seeded at id 1, a seed's first user shows the names the same seed draws first; at
    # id 2 they would make this address, and someone has taken it by hand.
    await seed(app, 50, 1, seed=7)
    async with app.state.sessions() as session, session.begin():
        email = (await session.execute(text("SELECT email FROM users WHERE id = 1"))).scalar_one()
        await session.execute(text("DELETE FROM users"))
        await session.execute(
            text("INSERT INTO users (id, name, email) VALUES (1, 'By hand', :email)"),
            {"email": email.replace(".1@", ".2@").upper()},  # the index ignores case
        )
    if tables.startswith("big"):

        async def many(self: BulkRepository) -> int:
            return 10**9

        monkeypatch.setattr(BulkRepository, "approximate_rows", many)
    schema = await schema_of(app)
    with pytest.raises(Conflict, match="email the seed made exists"):
        await seed(app, 50, 1, seed=7)
    assert await count(database_url, "users") == 1
    assert await count(database_url, "posts") == 0
    assert await schema_of(app) == schema
    assert (await log_rows(database_url))[-1]["outcome"] == "rolled_back"


async def test_progress_hears_of_every_row_then_of_the_index_build(app: FastAPI) -> None:
    heard: list[object] = []
    async with app.state.sessions() as session:
        await SeedService(session).seed(
            30_000, 1, progress=heard.append, stage=lambda what: heard.append(what)
        )
    rows = [n for n in heard if isinstance(n, int)]
    assert sum(rows) == 60_000 and len(rows) > 2  # chunk by chunk, not once at the end
    assert heard[-1] == "building indexes"

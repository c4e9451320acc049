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

from backend.errors import Unavailable
from backend.main import create_app
from backend.repositories.bulk import BulkRepository
from backend.services.seeding import SeedService
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
    async def broken(self: BulkRepository, rows: Any) -> None:
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
        [sys.executable, "-m", "backend.cli", "seed", "--users", "120", "--posts-per-user", "2"],
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
        [sys.executable, "-m", "backend.cli", "seed", "--users", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr

"""/api/v1/migrations and /health through the app: status, runs, previews, 503s, outcomes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from stackdeck.backend.main import create_app
from stackdeck.backend.services.events import LogEvent
from stackdeck.backend.services.transactions import TransactionStream
from tests.conftest import make_settings
from tests.helpers import asgi_client, eventually
from tests.migrations import (
    BELOW_HEAD,
    HEAD,
    HISTORY,
    PRE_DRAFTS,
    connection,
    fetch,
    migration_outcomes,
    versions,
)


@pytest.fixture
async def empty_app(empty_database_url: str) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(empty_database_url))
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def empty_client(empty_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(empty_app) as c:
        yield c


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in response.text
    body: dict[str, object] = response.json()
    return body


async def test_status_on_an_empty_database_has_everything_pending(
    empty_client: httpx.AsyncClient,
) -> None:
    status = (await empty_client.get("/migrations")).json()
    assert status["current"] == []
    assert status["heads"] == [HEAD]
    assert status["at_head"] is False
    assert status["pending"] == len(HISTORY)
    assert status["running"] is False
    assert [r["revision"] for r in status["history"]] == HISTORY
    assert not any(r["applied"] or r["is_current"] for r in status["history"])
    assert [r["is_head"] for r in status["history"]] == [False] * (len(HISTORY) - 1) + [True]
    first = status["history"][0]
    assert first["down_revision"] is None and first["message"] == "users"
    assert first["created"].startswith("2026-11-23T19:00:00")
    assert status["history"][-1]["down_revision"] == BELOW_HEAD
    assert status["drift"] == {"checked": False, "detected": False, "differences": []}
    health = (await empty_client.get("/health")).json()
    assert health["schema"] == {"current": [], "heads": [HEAD], "at_head": False}


async def test_status_in_between_and_at_head(
    empty_client: httpx.AsyncClient, empty_database_url: str
) -> None:
    run = await empty_client.post("/migrations/upgrade", json={"target": "0002_posts"})
    assert run.status_code == 200, run.text
    assert run.json()["from"] == [] and run.json()["to"] == ["0002_posts"]
    assert run.json()["applied"] == ["0001_users", "0002_posts"]
    status = (await empty_client.get("/migrations")).json()
    assert status["current"] == ["0002_posts"] and status["pending"] == len(HISTORY) - 2
    assert [r["applied"] for r in status["history"]] == [True, True] + [False] * (len(HISTORY) - 2)
    assert [r["is_current"] for r in status["history"]] == [False, True] + [False] * (
        len(HISTORY) - 2
    )

    run = await empty_client.post("/migrations/upgrade", json={})  # head by default
    assert run.json()["applied"] == HISTORY[2:]
    status = (await empty_client.get("/migrations")).json()
    assert status["at_head"] is True and status["pending"] == 0
    assert status["drift"] == {"checked": True, "detected": False, "differences": []}
    assert (await empty_client.get("/health")).json()["schema"]["at_head"] is True
    assert await versions(empty_database_url) == [HEAD]


async def test_upgrade_and_downgrade_by_relative_steps_and_base(
    client: httpx.AsyncClient, database_url: str
) -> None:
    down = await client.post("/migrations/downgrade")  # no body: -1 by default
    assert down.json()["direction"] == "downgrade"
    assert down.json()["from"] == [HEAD] and down.json()["to"] == [BELOW_HEAD]
    assert down.json()["applied"] == [HEAD]
    assert down.json()["duration_ms"] > 0
    up = await client.post("/migrations/upgrade", json={"target": "+1"})
    assert up.json()["to"] == [HEAD]
    base = await client.post("/migrations/downgrade", json={"target": "base"})
    assert base.json()["to"] == [] and base.json()["applied"] == list(reversed(HISTORY))
    assert base.json()["recorded"] is False  # the log itself is gone at base
    assert await versions(database_url) == []


async def test_unknown_target_is_422_naming_the_known_revisions(
    client: httpx.AsyncClient, database_url: str
) -> None:
    for path, target in [("upgrade", "nope"), ("downgrade", "-9"), ("upgrade", "-1")]:
        body = problem(await client.post(f"/migrations/{path}", json={"target": target}), 422)
        assert body["title"] == "Unknown revision"
        for known in ["base", *HISTORY, "head"]:
            assert known in str(body["detail"])
        assert body["errors"][0]["field"] == "target"  # type: ignore[index]
    assert await versions(database_url) == [HEAD]
    problem(await client.post("/migrations/upgrade", json={"target": ""}), 422)


async def test_sql_preview_for_upgrade_and_downgrade_ranges(
    empty_client: httpx.AsyncClient, empty_database_url: str
) -> None:
    # On an empty database: from the current revision (base) to head by default.
    preview = (await empty_client.get("/migrations/sql")).json()
    assert preview["from"] == "base" and preview["to"] == HEAD
    assert preview["direction"] == "upgrade"
    assert "CREATE TABLE users" in preview["sql"] and "ADD COLUMN published" in preview["sql"]
    assert await versions(empty_database_url) == []  # offline: nothing ran
    explicit = (await empty_client.get("/migrations/sql?from=base&to=head")).json()
    assert explicit["sql"] == preview["sql"]

    ranged = await empty_client.get("/migrations/sql?from=0002_posts&to=0003_transaction_log")
    assert "CREATE TABLE transaction_log" in ranged.json()["sql"]
    assert "CREATE TABLE users" not in ranged.json()["sql"]

    down = (await empty_client.get(f"/migrations/sql?from={HEAD}&to=-1")).json()
    assert down["direction"] == "downgrade" and down["to"] == BELOW_HEAD
    below_drafts = (await empty_client.get(f"/migrations/sql?from={HEAD}&to={PRE_DRAFTS}")).json()
    assert "DROP COLUMN published" in below_drafts["sql"]
    to_base = (await empty_client.get(f"/migrations/sql?from={HEAD}&to=base")).json()
    assert "DROP TABLE users" in to_base["sql"]

    bad = problem(await empty_client.get("/migrations/sql?to=nope"), 422)
    assert "0001_users" in str(bad["detail"])


async def test_not_at_head_answers_503_naming_current_and_head(
    client: httpx.AsyncClient,
) -> None:
    # Below the drafts revision: posts have no `published` column to read or write.
    down = await client.post("/migrations/downgrade", json={"target": PRE_DRAFTS})
    assert down.status_code == 200
    expected = f"database schema is at {PRE_DRAFTS}, head is {HEAD} — run migrations"
    for response in (
        await client.get("/posts"),
        await client.post("/posts", json={"user_id": 1, "title": "t"}),
    ):
        body = problem(response, 503)
        assert body["title"] == "Database schema not ready"
        assert body["detail"] == expected
        assert response.headers["retry-after"] == "1"
    health = (await client.get("/health")).json()
    assert health["status"] == "ok" and health["schema"]["at_head"] is False
    assert (await client.post("/migrations/upgrade", json={})).status_code == 200
    assert (await client.get("/posts")).status_code == 200


async def test_empty_database_answers_503_at_base(empty_client: httpx.AsyncClient) -> None:
    body = problem(await empty_client.get("/users"), 503)
    assert body["detail"] == f"database schema is at base, head is {HEAD} — run migrations"


async def test_each_run_is_an_outcome_in_the_log_and_on_the_stream(
    client: httpx.AsyncClient, app: FastAPI, database_url: str
) -> None:
    # The same stream GET /transactions/stream serves, resuming after the newest row so far.
    newest = await fetch(database_url, "SELECT coalesce(max(id), 0) AS id FROM transaction_log")
    stream = cast(
        AsyncGenerator[LogEvent | None, None],
        TransactionStream(app.state.reads, app.state.events, newest[0]["id"]).events(),
    )
    seen: list[str] = []

    async def watch() -> None:
        async for event in stream:
            if event is None:  # subscribed
                continue
            seen.append(json.loads(event.json)["operation"])
            if len(seen) == 2:
                return

    watcher = asyncio.create_task(watch())
    await eventually(lambda: app.state.events.subscriber_count == 1)
    await client.post("/migrations/downgrade", json={"target": "-1"})
    await client.post("/migrations/upgrade", json={"target": "head"})
    # The revision below head keeps the log, so the downgrade to it is recorded too.
    outcomes = await migration_outcomes(database_url)
    assert [(o["operation"], o["outcome"]) for o in outcomes] == [
        ("migrations.downgrade", "committed"),
        ("migrations.upgrade", "committed"),
    ]
    assert outcomes[1]["reason"] == f"{BELOW_HEAD} -> {HEAD} (applied {HEAD})"
    assert all(o["statement_count"] > 0 and o["request_id"] for o in outcomes)
    await asyncio.wait_for(watcher, 10)
    await stream.aclose()
    assert seen == ["migrations.downgrade", "migrations.upgrade"]
    history = (await client.get("/transactions?order=asc")).json()["items"]
    assert [i["operation"] for i in history][-2:] == ["migrations.downgrade", "migrations.upgrade"]


async def test_drift_is_detected_when_the_database_is_changed_by_hand(
    client: httpx.AsyncClient, database_url: str
) -> None:
    async with connection(database_url) as conn:
        await conn.execute("ALTER TABLE posts ADD COLUMN sneaky integer")
    drift = (await client.get("/migrations")).json()["drift"]
    assert drift["checked"] is True and drift["detected"] is True
    assert drift["differences"] == ["remove_column posts.sneaky"]


async def test_a_column_missing_at_head_is_a_503_that_points_at_drift(
    client: httpx.AsyncClient, database_url: str
) -> None:
    async with connection(database_url) as conn:
        await conn.execute("ALTER TABLE posts DROP COLUMN body")
    body = problem(await client.get("/posts"), 503)
    assert str(body["detail"]).startswith(f"database schema is at head ({HEAD}) but a table")
    drift = (await client.get("/migrations")).json()["drift"]
    assert drift["detected"] is True and "add_column posts.body" in drift["differences"]

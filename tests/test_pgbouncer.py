"""Behind a real PgBouncer: transaction pooling with the setting, without it, session pooling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from stackdeck.backend.main import create_app
from stackdeck.backend.settings import Settings
from tests.conftest import make_settings
from tests.helpers import eventually, uvicorn_serving
from tests.pg import PgCluster, asyncpg_dsn
from tests.sse import Subscriber
from tests.support.pgbouncer import PgBouncer, pgbouncer

SETTING = "STACKDECK_POOL_MODE=transaction"


@pytest.fixture(scope="module")
def transaction_bouncer(pg: PgCluster) -> Iterator[PgBouncer]:
    with pgbouncer(pg.admin_url, "transaction") as bouncer:
        yield bouncer


@pytest.fixture(scope="module")
def session_bouncer(pg: PgCluster) -> Iterator[PgBouncer]:
    with pgbouncer(pg.admin_url, "session") as bouncer:
        yield bouncer


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        uvicorn_serving(create_app(settings)) as url,
        httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=30) as client,
    ):
        yield client


class Statuses:
    """Every status a test's requests got: the point is that none is a 5xx but the 503s."""

    def __init__(self) -> None:
        self.seen: list[httpx.Response] = []

    def __call__(self, response: httpx.Response) -> httpx.Response:
        self.seen.append(response)
        return response

    def server_errors(self) -> list[tuple[int, str]]:
        return [(r.status_code, r.text[:200]) for r in self.seen if r.status_code >= 500]


async def _gather_bounded(calls: list[Any], limit: int = 16) -> list[httpx.Response]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Any) -> httpx.Response:
        async with gate:
            response: httpx.Response = await call()
            return response

    return await asyncio.gather(*(one(c) for c in calls))


async def test_transaction_pooler_serves_every_path_with_no_server_error(
    transaction_bouncer: PgBouncer, database_url: str
) -> None:
    settings = make_settings(
        transaction_bouncer.url_for(database_url),
        pool_mode="transaction",
        direct_database_url=database_url,
    )
    seen = Statuses()
    async with api(settings) as client:
        subscriber = Subscriber(client).start()
        await asyncio.wait_for(subscriber.connected.wait(), 15)

        created = await _gather_bounded(
            [
                lambda i=i: client.post("/users", json={"name": f"U{i}", "email": f"u{i}@x.io"})
                for i in range(12)
            ]
        )
        ids = [seen(r).json()["id"] for r in created]
        assert all(r.status_code == 201 for r in created)

        # Concurrent reads: more than PgBouncer's server pool, so sessions are shared.
        reads = await _gather_bounded(
            [lambda i=i: client.get(f"/users/{i}") for i in ids * 8]
            + [lambda: client.get("/users", params={"limit": 5, "embed": "posts"})] * 20
            + [lambda: client.get("/users/count")] * 10
        )
        for response in reads:
            assert seen(response).status_code == 200, response.text

        post = seen(
            await client.post("/posts", json={"user_id": ids[0], "title": "T", "body": "B"})
        )
        assert post.status_code == 201, post.text
        posts = seen(await client.get("/posts", params={"user_id": ids[0]}))
        assert [p["id"] for p in posts.json()["items"]] == [post.json()["id"]]
        patched = seen(await client.patch(f"/users/{ids[1]}", json={"name": "Renamed"}))
        assert patched.status_code == 200 and patched.json()["name"] == "Renamed"
        deleted = seen(await client.delete(f"/users/{ids[2]}"))
        assert deleted.status_code == 204

        # An idempotent retry replays the first answer, through the pooler too.
        body = {"name": "Keyed", "email": "keyed@x.io"}
        key = {"Idempotency-Key": "pgbouncer-retry-1"}
        first = seen(await client.post("/users", json=body, headers=key))
        again = seen(await client.post("/users", json=body, headers=key))
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        retried: list[tuple[str, str, dict[str, str] | None]] = [
            ("PATCH", f"/users/{first.json()['id']}", {"name": "Keyed again"}),
            ("DELETE", f"/users/{first.json()['id']}", None),
        ]
        for method, path, change in retried:
            keyed = {"Idempotency-Key": f"pgbouncer-{method}"}
            answers = [
                seen(await client.request(method, path, json=change, headers=keyed))
                for _ in range(2)
            ]
            assert answers[0].status_code == answers[1].status_code < 300, answers[0].text
            assert answers[0].content == answers[1].content
            assert answers[1].headers["idempotent-replayed"] == "true"

        # A migration run takes its advisory lock per transaction: it works through it too.
        down = seen(await client.post("/migrations/downgrade"))
        assert down.status_code == 200, down.text
        up = seen(await client.post("/migrations/upgrade", json={}))
        assert up.status_code == 200, up.text

        log = seen(await client.get("/transactions", params={"limit": 100}))
        assert log.status_code == 200
        health = seen(await client.get("/health"))
        assert health.json()["status"] == "ok" and health.json()["reason"] is None

        # LISTEN is on the direct URL: every committed write reached the stream.
        writes = (
            12 + 1 + 1 + 1 + 1 + 2
        )  # users, post, patch, delete, the keyed create, patch, delete
        await eventually(lambda: len(subscriber.events) >= writes, within=15)
        await subscriber.stop()
    assert seen.server_errors() == []
    assert await prepared_statements_left(transaction_bouncer.url_for(database_url)) == 0


async def prepared_statements_left(url: str, sessions: int = 20) -> int:
    """Named prepared statements left on every server session PgBouncer holds: each client
    holds a transaction open at once, so each one is on a session of its own."""
    clients = [
        await asyncpg.connect(asyncpg_dsn(url), statement_cache_size=0) for _ in range(sessions)
    ]
    try:
        for client in clients:
            await client.execute("BEGIN")
        return sum(
            [await c.fetchval("SELECT count(*) FROM pg_prepared_statements") for c in clients]
        )
    finally:
        for client in clients:
            await client.close()


async def test_session_mode_behind_a_transaction_pooler_answers_503_naming_the_setting(
    transaction_bouncer: PgBouncer, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The misconfiguration: pool_mode left at session, statements prepared by name.
    settings = make_settings(transaction_bouncer.url_for(database_url))
    caplog.set_level(logging.ERROR)
    async with api(settings) as client:
        created = await client.post("/users", json={"name": "A", "email": "a@x.io"})
        user_id = created.json()["id"] if created.status_code == 201 else 1
        responses = await _gather_bounded(
            [lambda: client.get(f"/users/{user_id}")] * 80
            + [lambda: client.get("/users", params={"limit": 5})] * 40
        )
        statuses = {r.status_code for r in responses} | {created.status_code}
        assert statuses <= {200, 201, 404, 503}, statuses
        refused = [r for r in responses if r.status_code == 503]
        assert refused, "a transaction pooler under session mode was never noticed"
        problem = refused[0]
        assert problem.headers["content-type"] == "application/problem+json"
        assert SETTING in problem.json()["detail"]

        health = (await client.get("/health")).json()
        assert health["status"] == "degraded" and health["database"] == "up"
        assert SETTING in health["reason"]
    said = [r for r in caplog.records if SETTING in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    assert not [r for r in caplog.records if r.exc_info], "a traceback reached the log"


async def test_session_pooler_works_with_no_setting(
    session_bouncer: PgBouncer, database_url: str
) -> None:
    settings = make_settings(session_bouncer.url_for(database_url), statement_timeout_ms=700)
    async with api(settings) as client:
        subscriber = Subscriber(client).start()
        await asyncio.wait_for(subscriber.connected.wait(), 15)
        created = await client.post("/users", json={"name": "S", "email": "s@x.io"})
        assert created.status_code == 201, created.text
        reads = await _gather_bounded([lambda: client.get(f"/users/{created.json()['id']}")] * 40)
        assert {r.status_code for r in reads} == {200}
        assert (await client.get("/health")).json()["status"] == "ok"
        await eventually(lambda: len(subscriber.events) >= 1, within=15)
        await subscriber.stop()

"""Faults survived: timeouts, an exhausted pool, killed connections, vanished clients."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from stackdeck.backend.main import create_app
from tests.conftest import LiveServer, make_settings
from tests.faults import idle_backends, table_locked, terminate, until_waiting
from tests.helpers import asgi_client, eventually, serving
from tests.test_transactions import count, log_rows


@pytest.fixture
async def tight_app(database_url: str) -> AsyncIterator[FastAPI]:
    """A small pool and short timeouts, so faults show up within a second or two."""
    settings = make_settings(
        database_url,
        pool_size=5,
        pool_max_overflow=5,
        read_pool_size=10,
        pool_timeout=1,
        statement_timeout_ms=800,
    )
    app = create_app(settings)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def tight_client(tight_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(tight_app) as c:
        yield c


async def test_statement_past_the_timeout_is_503(
    tight_client: httpx.AsyncClient, database_url: str
) -> None:
    async with table_locked(database_url):
        read = await tight_client.get("/users")
        write = await tight_client.post("/users", json={"name": "Ada", "email": "a@x.io"})
    for response in (read, write):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert "statement timeout" in response.json()["detail"]
    assert await count(database_url, "users") == 0
    assert [r["outcome"] for r in await log_rows(database_url)] == ["rolled_back"]
    assert (await tight_client.get("/users")).status_code == 200


async def test_exhausted_pool_answers_503_and_recovers_idle(database_url: str) -> None:
    # Slow requests: they hold their connection (a statement waits on a lock) well past
    # the 1 s pool timeout, and the statement timeout does not cut them short.
    settings = make_settings(
        database_url,
        pool_size=5,
        pool_max_overflow=5,
        read_pool_size=10,
        pool_timeout=1,
        statement_timeout_ms=20_000,
    )
    app = create_app(settings)
    async with serving(app) as c:
        reads = app.state.reads
        async with table_locked(database_url):
            requests = [asyncio.create_task(c.get("/users")) for _ in range(200)]
            await until_waiting(database_url, count=10)
            await asyncio.sleep(2.5)  # past the pool timeout: the queued requests gave up
        statuses = Counter(r.status_code for r in await asyncio.gather(*requests))
        # The ten with a connection are served once the lock goes; the rest got 503.
        assert set(statuses) <= {200, 503}, statuses
        assert statuses[503] >= 150 and statuses[200] >= 10, statuses
        await eventually(lambda: reads.in_use() == 0, within=5)
        assert (await c.get("/health")).json()["database"] == "up"


async def test_killed_connection_fails_only_its_request(
    tight_client: httpx.AsyncClient, database_url: str
) -> None:
    async with table_locked(database_url, "posts"):
        doomed = asyncio.create_task(
            tight_client.post(
                "/users/batch",
                json={"users": [{"name": "Ada", "email": "ada@x.io", "posts": [{"title": "t"}]}]},
            )
        )
        [pid] = await until_waiting(database_url)
        bystander = await tight_client.post("/users", json={"name": "Bob", "email": "bob@x.io"})
        await terminate(database_url, pid)
        response = await doomed
    assert response.status_code == 503
    assert bystander.status_code == 201
    assert [u["email"] for u in (await tight_client.get("/users")).json()["items"]] == ["bob@x.io"]
    outcomes = {(r["operation"], r["outcome"]) for r in await log_rows(database_url)}
    assert outcomes == {("users.create", "committed"), ("users.batch", "rolled_back")}


async def test_killed_read_connection_fails_its_read_and_the_next_one_reconnects(
    tight_client: httpx.AsyncClient, database_url: str
) -> None:
    created = await tight_client.post("/users", json={"name": "Ada", "email": "ada@x.io"})
    user_id = created.json()["id"]
    async with table_locked(database_url):
        doomed = asyncio.create_task(tight_client.get(f"/users/{user_id}"))
        [pid] = await until_waiting(database_url)
        await terminate(database_url, pid)
        response = await doomed
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "connection was lost" in response.json()["detail"]
    # Every pooled read connection is killed while idle: the next reads reconnect on their own.
    for pid in await idle_backends(database_url):
        await terminate(database_url, pid)
    for _ in range(3):
        again = await tight_client.get(f"/users/{user_id}")
        assert again.status_code == 200 and again.json()["email"] == "ada@x.io"


async def test_client_that_vanishes_mid_write_leaves_a_whole_outcome(
    live_server: LiveServer, database_url: str
) -> None:
    pool = live_server.app.state.engine.pool
    async with httpx.AsyncClient(base_url=f"{live_server.url}/api/v1") as client:
        async with table_locked(database_url):
            write = asyncio.create_task(
                client.post("/users", json={"name": "Ada", "email": "ada@x.io"}, timeout=0.5)
            )
            await until_waiting(database_url)
            with pytest.raises(httpx.TimeoutException):
                await write  # the client gives up and disconnects while the write waits
        await eventually(lambda: pool.checkedout() == 0, within=10)
        rows = await log_rows(database_url)
        # The handler ran on: either it committed (user and log row) or rolled back whole.
        assert len(rows) == 1
        assert await count(database_url, "users") == (rows[0]["outcome"] == "committed")
        assert (await client.get("/health")).json()["database"] == "up"

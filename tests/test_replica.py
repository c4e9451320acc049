"""Reads on a real streaming standby: where they land, read-your-writes by LSN, fallbacks.

The standby (tests/standby.py) is one for the session; a test that pauses its replay or
stops it puts it back in a finally, for the tests after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from stackdeck.backend.launcher import BackendThread
from stackdeck.backend.main import create_app
from stackdeck.backend.services.events import Heartbeat, LogEvent
from stackdeck.backend.services.transactions import TransactionStream
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import ApiClient, UserView
from tests.conftest import CANARY, make_settings
from tests.helpers import API, eventually, free_port, serving
from tests.pg import asyncpg_dsn
from tests.standby import StandbyServer
from tests.tui.conftest import SIZE
from tests.tui.helpers import loads_idle, until

LSN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$")
MIN_LSN = "X-Stackdeck-Min-LSN"
COMMIT_LSN = "X-Stackdeck-Commit-LSN"


async def _on_standby(standby: StandbyServer, database: str, sql: str) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(standby.url_for(database)))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _replicated(standby: StandbyServer, database: str) -> bool:
    try:
        return bool(await _on_standby(standby, database, "SELECT pg_is_in_recovery()"))
    except (asyncpg.InvalidCatalogNameError, asyncpg.CannotConnectNowError, OSError):
        return False  # the CREATE DATABASE is not replayed yet, or the standby is starting


@pytest.fixture
async def replica_db(database_url: str, standby: StandbyServer) -> str:
    """The test's database, once the standby has it."""
    name = str(make_url(database_url).database)
    await eventually(lambda: _replicated(standby, name), within=60, interval=0.1)
    return name


def _replica_app(database_url: str, standby: StandbyServer, name: str, **overrides: Any) -> FastAPI:
    overrides.setdefault("replica_max_lag_ms", 60_000)  # a paused replay stays "up" here
    settings = make_settings(
        database_url, read_database_url=SecretStr(standby.url_for(name)), **overrides
    )
    return create_app(settings)


@pytest.fixture
async def replica_app(database_url: str, standby: StandbyServer, replica_db: str) -> FastAPI:
    return _replica_app(database_url, standby, replica_db)


@pytest.fixture
async def rclient(replica_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(replica_app) as client:
        await eventually(lambda: replica_app.state.reads.standby.state == "up", within=30)
        yield client


async def _paused(standby: StandbyServer, database: str) -> bool:
    state = await _on_standby(standby, database, "SELECT pg_get_wal_replay_pause_state()")
    return bool(state == "paused")


async def _pause_replay(standby: StandbyServer, database: str) -> None:
    await _on_standby(standby, database, "SELECT pg_wal_replay_pause()")
    await eventually(lambda: _paused(standby, database), within=30)


async def _resume_replay(standby: StandbyServer, database: str) -> None:
    await _on_standby(standby, database, "SELECT pg_wal_replay_resume()")


async def _standby_scans(standby: StandbyServer, database: str) -> dict[str, int]:
    conn = await asyncpg.connect(asyncpg_dsn(standby.url_for(database)))
    try:
        rows = await conn.fetch(
            "SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS scans"
            " FROM pg_stat_user_tables"
            " WHERE relname IN ('users', 'posts', 'transaction_log')"
        )
        return {row["relname"]: row["scans"] for row in rows}
    finally:
        await conn.close()


async def test_reads_are_served_by_the_standby_and_writes_by_the_primary(
    rclient: httpx.AsyncClient, standby: StandbyServer, replica_db: str, database_url: str
) -> None:
    user = await rclient.post("/users", json={"name": "Ada", "email": "ada@x.io"})
    assert user.status_code == 201, user.text
    post = await rclient.post("/posts", json={"user_id": user.json()["id"], "title": "t"})
    assert post.status_code == 201, post.text
    lsn = post.headers[COMMIT_LSN]
    before = await _standby_scans(standby, replica_db)

    user_id, post_id = user.json()["id"], post.json()["id"]
    paths = [
        f"/users/{user_id}",
        "/users",
        "/users?embed=posts",
        "/users/count",
        "/posts",
        f"/posts/{post_id}",
        "/transactions",
        "/transactions/stats",
    ]
    for path in paths:
        response = await rclient.get(path, headers={MIN_LSN: lsn})
        assert response.status_code == 200, (path, response.text)
    assert (await rclient.get(f"/users/{user_id}")).json()["posts"][0]["id"] == post_id

    # The standby counted the reads of every table. A backend publishes its counts when it
    # exits (or after seconds idle): end the app's standby connections to have them now.
    await _on_standby(
        standby,
        replica_db,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE application_name = 'stackdeck' AND datname = current_database()",
    )

    async def counted() -> bool:
        after = await _standby_scans(standby, replica_db)
        return (
            all(after.get(table, 0) > before.get(table, 0) for table in after)
            and len(after) == len(before) == 3
        )

    await eventually(counted, within=60, interval=0.5)
    # The writes are on the primary (a standby refuses writes) and were replayed.
    primary = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        assert await primary.fetchval("SELECT count(*) FROM posts") == 1
    finally:
        await primary.close()
    health = (await rclient.get("/health")).json()
    assert health["replica"] == "up" and health["replica_lag_ms"] is not None


async def test_min_lsn_read_falls_back_to_the_primary_while_the_standby_is_behind(
    database_url: str, standby: StandbyServer, replica_db: str
) -> None:
    app = _replica_app(database_url, standby, replica_db, replica_wait_ms=300)
    lagging_app = _replica_app(database_url, standby, replica_db, replica_max_lag_ms=200)
    async with serving(app) as client, serving(lagging_app) as lagging_client:
        await eventually(lambda: app.state.reads.standby.state == "up", within=30)
        await _pause_replay(standby, replica_db)
        try:
            created = await client.post("/users", json={"name": "Ada", "email": "ada@x.io"})
            assert created.status_code == 201
            lsn = created.headers[COMMIT_LSN]
            user = f"/users/{created.json()['id']}"

            # Without the header the standby answers, and it has not replayed the insert.
            assert (await client.get(user)).status_code == 404
            assert (await client.get("/users/count")).json() == {"total": 0}
            # With it, the standby is waited for (300 ms), then the primary answers.
            fresh = await client.get(user, headers={MIN_LSN: lsn})
            assert fresh.status_code == 200 and fresh.json()["name"] == "Ada"
            counted = await client.get("/users/count", headers={MIN_LSN: lsn})
            assert counted.json() == {"total": 1}

            # Lagging past its bound (200 ms here), the standby gets no reads at all.
            async def lagging() -> bool:
                health = (await lagging_client.get("/health")).json()
                return bool(health["replica"] == "lagging" and health["replica_lag_ms"] > 200)

            await eventually(lagging, within=30)
            assert (await lagging_client.get(user)).status_code == 200
        finally:
            await _resume_replay(standby, replica_db)

        # Caught up, the standby serves the row (the wait ends as soon as it has replayed).
        async def replayed() -> bool:
            return (await client.get(user)).status_code == 200

        await eventually(replayed, within=30)
        assert (await client.get(user, headers={MIN_LSN: lsn})).status_code == 200
        await eventually(lambda: lagging_app.state.reads.standby.state == "up", within=30)


async def test_the_stream_replays_from_the_primary_while_the_standby_is_behind(
    rclient: httpx.AsyncClient, replica_app: FastAPI, standby: StandbyServer, replica_db: str
) -> None:
    await _pause_replay(standby, replica_db)
    hub = replica_app.state.events
    watcher = hub.subscribe()
    try:
        created = await rclient.post("/users", json={"name": "Ada", "email": "ada@x.io"})
        assert created.status_code == 201
        async with asyncio.timeout(30):  # its NOTIFY has reached this process's hub
            while not isinstance(await watcher.queue.get(), LogEvent):
                pass
        # Resuming after event 0: the backlog comes from the table, and only the primary's
        # has the write (its NOTIFY went out before this stream subscribed).
        stream = TransactionStream(replica_app.state.reads, replica_app.state.events, 0)
        events = cast(AsyncGenerator[LogEvent | Heartbeat | None, None], stream.events())
        try:
            async with asyncio.timeout(30):
                assert await anext(events) is None  # subscribed
                event = await anext(events)
        finally:
            await events.aclose()
        assert isinstance(event, LogEvent) and event.outcome == "committed"
        assert json.loads(event.json)["operation"] == "users.create"
    finally:
        watcher.close()
        await _resume_replay(standby, replica_db)


async def test_the_console_sees_what_it_just_saved_while_the_standby_is_behind(
    rclient: httpx.AsyncClient, replica_app: FastAPI, standby: StandbyServer, replica_db: str
) -> None:
    console = ApiClient(API, transport=httpx.ASGITransport(app=replica_app))
    try:
        await _pause_replay(standby, replica_db)
        try:
            created = await console.create_user("Ada", "ada@x.io")
            assert console.last_commit_lsn is not None
            assert (await console.get_user(created["id"]))["name"] == "Ada"
            await console.update_user(created["id"], name="Ada L")
            page = await console.list_users(UserView())
            assert [u.name for u in page.items] == ["Ada L"]
            assert await console.count_users(UserView()) == 1
        finally:
            await _resume_replay(standby, replica_db)
    finally:
        await console.aclose()


async def test_the_console_shows_the_replica_and_a_user_it_just_created_on_a_paused_standby(
    database_url: str, standby: StandbyServer, replica_db: str
) -> None:
    settings = make_settings(
        database_url,
        read_database_url=SecretStr(standby.url_for(replica_db)),
        replica_max_lag_ms=60_000,
    )
    backend = BackendThread(settings)
    backend.start()
    try:
        console = StackdeckApp(ApiClient(backend.url), health_every=0.5)
        async with console.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "replica up" in console.sub_title, within=30)
            await until(pilot, lambda: loads_idle(console) and console.users.total == 0)
            await _pause_replay(standby, replica_db)
            try:
                await pilot.press("n")
                await until(pilot, lambda: len(console.screen_stack) > 1)
                await pilot.press(*"Ada", "tab", *"ada@x.io", "enter")
                # The pane reloads its page and count from the backend, which reads them on
                # the primary: the standby has not replayed the insert.
                await until(
                    pilot,
                    lambda: any(u.email == "ada@x.io" for u in console.users.window.rows),
                    within=30,
                )
                await until(pilot, lambda: console.users.total == 1, within=30)
            finally:
                await _resume_replay(standby, replica_db)
    finally:
        backend.stop()


async def test_reads_keep_working_with_the_standby_stopped(
    rclient: httpx.AsyncClient, replica_app: FastAPI, standby: StandbyServer, replica_db: str
) -> None:
    created = await rclient.post("/users", json={"name": "Ada", "email": "ada@x.io"})
    user = f"/users/{created.json()['id']}"
    await eventually(lambda: _user_replayed(rclient, user), within=30)
    await asyncio.to_thread(standby.stop)
    try:
        await eventually(lambda: _health_says(rclient, "down"), within=30)
        for _ in range(10):
            response = await rclient.get(user)
            assert response.status_code == 200, response.text
        health = (await rclient.get("/health")).json()
        assert health["status"] == "ok" and health["replica_lag_ms"] is None
    finally:
        await asyncio.to_thread(standby.start)
    # Back up, the standby is used again.
    await eventually(lambda: _health_says(rclient, "up"), within=60)
    assert (await rclient.get(user)).status_code == 200


async def _user_replayed(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200


async def _health_says(client: httpx.AsyncClient, replica: str) -> bool:
    return bool((await client.get("/health")).json().get("replica") == replica)


# -- with no standby ---------------------------------------------------------------------------


async def test_a_standby_that_is_not_there_sends_reads_to_the_primary_and_never_shows_its_password(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dead = make_url(database_url).set(
        username="canary", password=CANARY, host="127.0.0.1", port=free_port(), query={}
    )
    settings = make_settings(
        database_url, read_database_url=SecretStr(dead.render_as_string(False)), connect_timeout=1
    )
    app = create_app(settings)
    seen = [repr(settings)]
    async with serving(app) as client:
        await eventually(lambda: _health_says(client, "down"), within=30)
        created = await client.post("/users", json={"name": "Ada", "email": "ada@x.io"})
        for response in (
            created,
            await client.get(f"/users/{created.json()['id']}"),
            await client.get("/users", headers={MIN_LSN: created.headers[COMMIT_LSN]}),
            await client.get("/health"),
        ):
            assert response.status_code in (200, 201), response.text
            seen.append(response.text + str(response.headers))
    seen.append(caplog.text)
    assert "reads: on the standby" in caplog.text
    assert not [text for text in seen if CANARY in text]


async def test_every_write_answers_its_commit_lsn(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"name": "Ada", "email": "ada@x.io"})
    user_id = created.json()["id"]
    post = await client.post("/posts", json={"user_id": user_id, "title": "t"})
    writes = [
        created,
        post,
        await client.post("/users/batch", json={"users": [{"name": "B", "email": "b@x.io"}]}),
        await client.patch(f"/users/{user_id}", json={"name": "Ada L"}),
        await client.patch(f"/posts/{post.json()['id']}", json={"title": "u"}),
        await client.delete(f"/posts/{post.json()['id']}"),
        await client.delete(f"/users/{user_id}"),
    ]
    positions = []
    for response in writes:
        assert response.status_code in (200, 201, 204), response.text
        assert LSN.match(response.headers[COMMIT_LSN]), response.headers[COMMIT_LSN]
        positions.append(_position(response.headers[COMMIT_LSN]))
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # A keyed retry replays the first answer, and a position at least as far as its commit.
    body, key = {"name": "C", "email": "c@x.io"}, {"Idempotency-Key": "once"}
    first = await client.post("/users", json=body, headers=key)
    again = await client.post("/users", json=body, headers=key)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert _position(again.headers[COMMIT_LSN]) >= _position(first.headers[COMMIT_LSN])
    assert COMMIT_LSN not in (await client.get("/users")).headers
    # Any well-formed position is accepted with no standby: the primary answers.
    assert (await client.get("/users", headers={MIN_LSN: "FFFFFFFF/0"})).status_code == 200
    assert "replica" not in (await client.get("/health")).json()


def _position(lsn: str) -> tuple[int, int]:
    high, low = lsn.split("/")
    return int(high, 16), int(low, 16)


@pytest.mark.parametrize("value", ["", "12345", "0/XYZ", "1/2/3", "123456789/0"])
async def test_a_malformed_min_lsn_is_a_422_naming_the_header(
    client: httpx.AsyncClient, value: str
) -> None:
    response = await client.get("/users", headers={MIN_LSN: value})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert MIN_LSN in response.text


async def test_openapi_documents_both_headers(client: httpx.AsyncClient) -> None:
    document = (await client.get("http://127.0.0.1/openapi.json")).json()
    reads = writes = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            data_path = path.startswith(("/api/v1/users", "/api/v1/posts", "/api/v1/transactions"))
            if method == "get" and data_path and not path.endswith("/stream"):
                assert MIN_LSN in params, path
                reads += 1
            if "Idempotency-Key" in params:
                success = [r for s, r in operation["responses"].items() if s.startswith("2")]
                assert success and all(COMMIT_LSN in r["headers"] for r in success), path
                writes += 1
    assert reads >= 7 and writes >= 7

"""PostgreSQL itself failing: restarted mid-load, or killed outright while writes commit."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from stackdeck.backend.db.embedded import EmbeddedPostgres
from stackdeck.backend.main import create_app
from tests.conftest import make_settings
from tests.faults import pg_ctl, postmaster_pid, start_again
from tests.helpers import serving
from tests.pg import PgCluster, create_migrated_template
from tests.test_transactions import count, log_rows


@pytest.fixture
def own_server(pg_data_dir: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own: these tests stop and kill it."""
    server = EmbeddedPostgres(pg_data_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def own_database(own_server: EmbeddedPostgres) -> str:
    cluster = PgCluster(own_server.url("postgres"), own_server)
    return cluster.url_for(await create_migrated_template(cluster))


@pytest.fixture
async def own_client(own_database: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(own_database, pool_timeout=2, connect_timeout=2)
    app = create_app(settings)
    async with serving(app) as c:
        yield c


@dataclass
class Write:
    key: str
    body: dict[str, str]
    status: int = 0
    seconds: float = 0.0
    retry_after: str | None = None


async def write_load(client: httpx.AsyncClient, writes: list[Write], rate: float) -> None:
    async def one(write: Write) -> None:
        started = time.monotonic()
        response = await client.post(
            "/users", json=write.body, headers={"Idempotency-Key": write.key}
        )
        write.status, write.seconds = response.status_code, time.monotonic() - started
        write.retry_after = response.headers.get("retry-after")

    tasks = []
    for write in writes:
        tasks.append(asyncio.create_task(one(write)))
        await asyncio.sleep(1 / rate)
    await asyncio.gather(*tasks)


def writes(n: int, prefix: str) -> list[Write]:
    return [
        Write(f"{prefix}-{i}", {"name": f"U{i}", "email": f"{prefix}{i}@example.com"})
        for i in range(n)
    ]


async def test_restart_mid_load_fails_fast_recovers_and_loses_nothing(
    own_server: EmbeddedPostgres, own_client: httpx.AsyncClient, own_database: str
) -> None:
    load = writes(150, "restart")
    running = asyncio.create_task(write_load(own_client, load, rate=50))
    await asyncio.sleep(0.8)
    await asyncio.to_thread(pg_ctl, own_server, "-w", "-m", "fast", "restart")
    back_at = time.monotonic()
    await running

    statuses = {w.status for w in load}
    assert statuses <= {201, 503}, statuses  # never a 500
    failed = [w for w in load if w.status == 503]
    assert failed, "the restart should have failed some writes"
    assert all(w.retry_after for w in failed)
    assert max(w.seconds for w in load) < 2 + 2 + 1  # pool timeout + connect timeout + slack

    # The pool heals by itself: a write succeeds within 5 s of the server being back.
    while True:
        probe = await own_client.post("/users", json={"name": "P", "email": f"p{time.time()}@x.io"})
        if probe.status_code == 201:
            break
        assert time.monotonic() - back_at < 5, "pool did not recover within 5 s"
        await asyncio.sleep(0.1)

    # A 503 says nothing about whether the write committed; its retry tells the truth.
    for write in failed:
        retry = await own_client.post(
            "/users", json=write.body, headers={"Idempotency-Key": write.key}
        )
        assert retry.status_code == 201
    emails = {
        u["email"] for u in (await own_client.get("/users", params={"limit": 500})).json()["items"]
    }
    assert {w.body["email"] for w in load} <= emails
    committed = [r for r in await log_rows(own_database) if r["outcome"] == "committed"]
    assert len(committed) == await count(own_database, "users") == len(load) + 1


async def test_killed_postmaster_keeps_every_acknowledged_write(
    own_server: EmbeddedPostgres, own_client: httpx.AsyncClient, own_database: str
) -> None:
    settings = (await own_client.get("/health")).json()
    assert settings["database"] == "up"
    load = writes(120, "crash")
    running = asyncio.create_task(write_load(own_client, load, rate=60))
    await asyncio.sleep(0.7)
    os.kill(postmaster_pid(own_server), signal.SIGKILL)
    await running
    acknowledged = [w for w in load if w.status == 201]
    assert acknowledged and {w.status for w in load} <= {201, 503}

    await asyncio.to_thread(start_again, own_server)
    stored = set()
    after = None
    while True:
        params = {"limit": 500} | ({"after": after} if after else {})
        page = await own_client.get("/users", params=params)
        if page.status_code == 503:
            await asyncio.sleep(0.2)
            continue
        stored |= {u["email"] for u in page.json()["items"]}
        after = page.json()["next"]
        if after is None:
            break
    # Crash recovery replays the WAL: every write that was acknowledged survived.
    assert {w.body["email"] for w in acknowledged} <= stored
    committed = [r for r in await log_rows(own_database) if r["outcome"] == "committed"]
    assert len(committed) == await count(own_database, "users")


async def test_durability_settings_are_not_traded_for_speed(
    client: httpx.AsyncClient, app: object
) -> None:
    from sqlalchemy import text

    async with app.state.sessions() as session:  # type: ignore[attr-defined]
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            value = (await session.execute(text(f"SHOW {setting}"))).scalar_one()
            assert value == "on", setting

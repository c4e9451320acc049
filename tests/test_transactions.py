"""Write outcomes: recorded atomically, listed, counted per second, streamed without gaps."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from stackdeck.backend.repositories.users import UsersRepository
from tests.conftest import LiveServer
from tests.helpers import eventually
from tests.pg import asyncpg_dsn
from tests.sse import Subscriber


async def log_rows(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return [dict(r) for r in await conn.fetch("SELECT * FROM transaction_log ORDER BY id")]
    finally:
        await conn.close()


async def count(database_url: str, table: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def test_each_write_records_its_outcome(client: httpx.AsyncClient, database_url: str) -> None:
    created = await client.post(
        "/users", json={"name": "Ada", "email": "ada@example.com"}, headers={"X-Request-ID": "r1"}
    )
    await client.post("/users", json={"name": "Ada", "email": "ADA@example.com"})
    await client.delete("/users/999999")
    rows = await log_rows(database_url)
    assert [(r["operation"], r["outcome"]) for r in rows] == [
        ("users.create", "committed"),
        ("users.create", "rolled_back"),
        ("users.delete", "rolled_back"),
    ]
    committed, duplicate, missing = rows
    assert committed["entity"] == "user" and committed["entity_id"] == created.json()["id"]
    assert committed["request_id"] == "r1" and committed["reason"] is None
    assert committed["statement_count"] >= 1 and committed["duration_ms"] > 0
    assert duplicate["reason"] == "email already exists: ADA@example.com"
    assert missing["reason"] == "user 999999 does not exist"


async def test_history_pages_newest_first_or_by_id(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await client.post("/users", json={"name": f"U{i}", "email": f"u{i}@example.com"})
    newest = (await client.get("/transactions", params={"limit": 2})).json()
    ids = [t["id"] for t in newest["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 2
    older = (
        await client.get("/transactions", params={"limit": 10, "after": newest["next"]})
    ).json()
    assert [t["id"] for t in older["items"]] == list(range(ids[-1] - 1, 0, -1))
    by_id = (await client.get("/transactions", params={"order": "asc", "limit": 10})).json()
    assert [t["id"] for t in by_id["items"]] == [1, 2, 3, 4, 5]
    assert by_id["items"][0]["operation"] == "users.create"


async def test_stats_count_outcomes_per_second(client: httpx.AsyncClient) -> None:
    await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    await client.post("/users", json={"name": "Bob", "email": "bob@example.com"})
    stats = (await client.get("/transactions/stats", params={"window": 60})).json()
    assert stats["window"] == 60 and len(stats["buckets"]) == 60
    assert stats["totals"] == {"committed": 2, "rolled_back": 1}
    assert sum(b["committed"] for b in stats["buckets"]) == 2
    assert sum(b["rolled_back"] for b in stats["buckets"]) == 1
    seconds = [b["at"] for b in stats["buckets"]]
    assert seconds == sorted(seconds)
    assert (await client.get("/transactions/stats", params={"window": 0})).status_code == 422


async def test_fault_between_write_and_commit_leaves_only_a_rollback(
    client: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_insert = UsersRepository.insert

    async def insert_then_fail(self: UsersRepository, name: str, email: str) -> Any:
        await real_insert(self, name, email)
        raise ConnectionResetError("injected: connection lost before commit")

    monkeypatch.setattr(UsersRepository, "insert", insert_then_fail)
    response = await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    assert response.status_code == 503
    assert await count(database_url, "users") == 0
    rows = await log_rows(database_url)
    assert [(r["operation"], r["outcome"]) for r in rows] == [("users.create", "rolled_back")]
    assert "Traceback" not in (rows[0]["reason"] or "")


def batch(*emails: str, posts: int = 1) -> dict[str, Any]:
    return {
        "users": [
            {"name": f"N{i}", "email": e, "posts": [{"title": f"t{j}"} for j in range(posts)]}
            for i, e in enumerate(emails)
        ]
    }


async def test_batch_writes_every_user_and_post(
    client: httpx.AsyncClient, database_url: str
) -> None:
    response = await client.post("/users/batch", json=batch("a@x.io", "b@x.io", "c@x.io", posts=2))
    assert response.status_code == 201
    result = response.json()
    assert result["created"] == 3 and result["post_count"] == 6
    users = (await client.get("/users", params={"embed": "posts"})).json()["items"]
    assert [u["id"] for u in users] == result["user_ids"]
    assert [u["email"] for u in users] == ["a@x.io", "b@x.io", "c@x.io"]
    assert all(u["post_count"] == 2 for u in users)
    rows = await log_rows(database_url)
    assert [(r["operation"], r["outcome"]) for r in rows] == [("users.batch", "committed")]


@pytest.mark.parametrize(
    ("emails", "existing", "index"),
    [
        (("a@x.io", "b@x.io", "A@X.io"), None, 2),  # repeated inside the batch
        (("a@x.io", "b@x.io", "c@x.io"), "B@x.io", 1),  # already in the table
    ],
)
async def test_batch_with_one_duplicate_writes_nothing(
    client: httpx.AsyncClient,
    database_url: str,
    emails: tuple[str, ...],
    existing: str | None,
    index: int,
) -> None:
    if existing:
        await client.post("/users", json={"name": "Old", "email": existing})
    before = await count(database_url, "users")
    response = await client.post("/users/batch", json=batch(*emails))
    assert response.status_code == 409
    assert f"users[{index}]" in response.json()["detail"]
    assert await count(database_url, "users") == before
    assert await count(database_url, "posts") == 0
    last = (await log_rows(database_url))[-1]
    assert (last["operation"], last["outcome"]) == ("users.batch", "rolled_back")
    assert f"users[{index}]" in last["reason"]


async def test_batch_over_a_thousand_is_422_before_touching_the_database(
    client: httpx.AsyncClient, database_url: str
) -> None:
    emails = [f"u{i}@x.io" for i in range(1001)]
    response = await client.post("/users/batch", json=batch(*emails, posts=0))
    assert response.status_code == 422
    assert await log_rows(database_url) == []
    assert (await client.post("/users/batch", json={"users": []})).status_code == 422


async def test_stream_delivers_outcomes_live_and_replays_after_last_event_id(
    live_client: httpx.AsyncClient,
) -> None:
    first = Subscriber(live_client).start()
    await asyncio.wait_for(first.connected.wait(), 10)
    await live_client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    await live_client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    await eventually(lambda: len(first.events) == 2)
    assert [e["outcome"] for e in first.events] == ["committed", "rolled_back"]
    assert first.events[1]["reason"] == "email already exists: ada@example.com"
    await first.stop()

    for i in range(3):
        await live_client.post("/users", json={"name": f"U{i}", "email": f"u{i}@example.com"})
    resumed = Subscriber(live_client, last_event_id=first.ids[-1]).start()
    await eventually(lambda: len(resumed.events) == 3)
    await live_client.post("/users", json={"name": "Late", "email": "late@example.com"})
    await eventually(lambda: len(resumed.events) == 4)
    assert resumed.ids == [3, 4, 5, 6]
    await resumed.stop()


async def test_stream_sends_heartbeat_comments(
    live_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stackdeck.backend.api.transactions

    monkeypatch.setattr(stackdeck.backend.api.transactions, "PING_INTERVAL", 0.2)
    async with live_client.stream("GET", "/transactions/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        async with asyncio.timeout(10):
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    break


async def test_slow_subscriber_delays_no_one_and_stays_bounded(
    live_client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    hub = live_server.app.state.events
    hub.queue_size = 5
    stalled = hub.subscribe()  # subscribes and never reads: the slowest reader possible
    reader = Subscriber(live_client).start()
    await asyncio.wait_for(reader.connected.wait(), 10)
    for i in range(20):
        await live_client.post("/users", json={"name": f"U{i}", "email": f"u{i}@example.com"})
    await eventually(lambda: len(reader.events) == 20)
    assert stalled.queue.qsize() <= 5 and stalled.lagging
    await reader.stop()
    stalled.close()


async def test_stream_fills_the_gap_after_the_listen_connection_is_killed(
    live_client: httpx.AsyncClient, live_server: LiveServer, database_url: str
) -> None:
    listener = live_server.app.state.listener
    reader = Subscriber(live_client).start()
    await asyncio.wait_for(reader.connected.wait(), 10)
    await live_client.post("/users", json={"name": "A", "email": "a@example.com"})
    await eventually(lambda: len(reader.events) == 1)
    made = listener.connections_made
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # Named apart from the pools' connections, so an operator can tell it in pg_stat_activity.
        name = "SELECT application_name FROM pg_stat_activity WHERE pid = $1"
        assert await conn.fetchval(name, listener.backend_pid) == "stackdeck-listen"
        await conn.execute("SELECT pg_terminate_backend($1)", listener.backend_pid)
    finally:
        await conn.close()
    # Written while this process has no LISTEN connection: only the table knows.
    for i in range(3):
        await live_client.post("/users", json={"name": f"U{i}", "email": f"u{i}@example.com"})
    await eventually(lambda: listener.connections_made > made, within=15)
    await eventually(lambda: len(reader.events) == 4, within=15)
    assert reader.ids == [1, 2, 3, 4]
    await reader.stop()

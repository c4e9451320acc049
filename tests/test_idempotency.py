"""Idempotency-Key: a retry learns the first attempt's outcome and writes nothing twice."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
from fastapi import FastAPI
from sqlalchemy import text

from stackdeck.backend.services.idempotency import purge_expired
from tests.pg import asyncpg_dsn
from tests.test_transactions import count, log_rows


async def test_retry_with_the_same_key_replays_and_writes_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    headers = {"Idempotency-Key": "create-ada-1"}
    body = {"name": "Ada", "email": "ada@example.com"}
    first = await client.post("/users", json=body, headers=headers)
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await client.post("/users", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await count(database_url, "users") == 1
    assert len(await log_rows(database_url)) == 1  # the replay records nothing either


async def test_same_json_spelled_differently_is_the_same_request(
    client: httpx.AsyncClient,
) -> None:
    headers = {"Idempotency-Key": "k-2", "content-type": "application/json"}
    first = await client.post(
        "/users", content=b'{"name": "Ada", "email": "ada@example.com"}', headers=headers
    )
    again = await client.post(
        "/users", content=b'{"email":"ada@example.com",  "name":"Ada"}', headers=headers
    )
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


async def test_same_key_with_a_different_body_is_422(
    client: httpx.AsyncClient, database_url: str
) -> None:
    headers = {"Idempotency-Key": "k-3"}
    await client.post("/users", json={"name": "Ada", "email": "ada@example.com"}, headers=headers)
    other = await client.post(
        "/users", json={"name": "Bob", "email": "bob@example.com"}, headers=headers
    )
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await count(database_url, "users") == 1


async def test_batch_and_posts_replay_too(client: httpx.AsyncClient, database_url: str) -> None:
    batch = {"users": [{"name": "A", "email": "a@x.io", "posts": [{"title": "t"}]}]}
    first = await client.post("/users/batch", json=batch, headers={"Idempotency-Key": "b-1"})
    again = await client.post("/users/batch", json=batch, headers={"Idempotency-Key": "b-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    post = {"user_id": first.json()["user_ids"][0], "title": "Hello"}
    p1 = await client.post("/posts", json=post, headers={"Idempotency-Key": "p-1"})
    p2 = await client.post("/posts", json=post, headers={"Idempotency-Key": "p-1"})
    assert p1.json() == p2.json() and p2.headers["idempotent-replayed"] == "true"
    assert await count(database_url, "posts") == 2  # one from the batch, one post


async def test_a_failed_write_is_not_remembered(client: httpx.AsyncClient) -> None:
    await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    headers = {"Idempotency-Key": "k-4"}
    body = {"name": "Ada 2", "email": "ADA@example.com"}
    assert (await client.post("/users", json=body, headers=headers)).status_code == 409
    retry = await client.post("/users", json=body, headers=headers)
    assert retry.status_code == 409 and "idempotent-replayed" not in retry.headers


async def test_concurrent_retries_write_once(client: httpx.AsyncClient, database_url: str) -> None:
    headers = {"Idempotency-Key": "k-5"}
    body = {"name": "Ada", "email": "ada@example.com"}
    responses = await asyncio.gather(
        *(client.post("/users", json=body, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 7
    assert await count(database_url, "users") == 1


async def test_keys_expire_after_24_hours(client: httpx.AsyncClient, database_url: str) -> None:
    user = (await client.post("/users", json={"name": "Ada", "email": "a@x.io"})).json()
    post = {"user_id": user["id"], "title": "Daily"}
    headers = {"Idempotency-Key": "daily"}
    first = await client.post("/posts", json=post, headers=headers)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = $1",
            "daily",
        )
    finally:
        await conn.close()
    second = await client.post("/posts", json=post, headers=headers)
    assert second.status_code == 201 and "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]


async def test_malformed_keys_are_422(client: httpx.AsyncClient) -> None:
    body = {"name": "Ada", "email": "ada@example.com"}
    for key in ("has space", "x" * 201):
        response = await client.post("/users", json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 422


async def test_expired_keys_are_purged(client: httpx.AsyncClient, app: FastAPI) -> None:
    body = {"name": "Ada", "email": "ada@example.com"}
    await client.post("/users", json=body, headers={"Idempotency-Key": "old"})
    await client.post(
        "/posts", json={"user_id": 1, "title": "t"}, headers={"Idempotency-Key": "new"}
    )
    async with app.state.sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
                "WHERE key = 'old'"
            )
        )
    async with app.state.sessions() as session, session.begin():
        assert await purge_expired(session) == 1
        keys = (await session.execute(text("SELECT key FROM idempotency_keys"))).scalars().all()
    assert keys == ["new"]

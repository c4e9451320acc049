"""Idempotency-Key: a retry learns the first attempt's outcome and writes nothing twice."""

from __future__ import annotations

import asyncio
from importlib import import_module
from pkgutil import iter_modules
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import text

from stackdeck.backend import api
from stackdeck.backend.api.idempotency import refuse_idempotency_key
from stackdeck.backend.services.idempotency import purge_expired
from tests.helpers import answer_of
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
    assert answer(again) == answer(first)  # body, Location and all
    assert first.headers["location"] == f"/api/v1/users/{first.json()['id']}"
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
    assert first.status_code == 201 and answer(again) == answer(first)
    assert again.headers["idempotent-replayed"] == "true"
    post = {"user_id": first.json()["user_ids"][0], "title": "Hello"}
    p1 = await client.post("/posts", json=post, headers={"Idempotency-Key": "p-1"})
    p2 = await client.post("/posts", json=post, headers={"Idempotency-Key": "p-1"})
    assert answer(p1) == answer(p2) and p2.headers["idempotent-replayed"] == "true"
    assert p1.headers["location"] == f"/api/v1/posts/{p1.json()['id']}"
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


def answer(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    return answer_of(response.status_code, response.content, dict(response.headers))


async def _user_and_post(client: httpx.AsyncClient) -> dict[str, int]:
    user = (await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})).json()
    post = (await client.post("/posts", json={"user_id": user["id"], "title": "Hello"})).json()
    return {"users": user["id"], "posts": post["id"]}


# A change to each resource, and a second one that proves the replay is not run again.
_CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "users": ({"name": "Ada Lovelace"}, {"name": "Countess"}),
    "posts": ({"title": "Hello again"}, {"title": "Later"}),
}


@pytest.mark.parametrize("resource", ["users", "posts"])
async def test_patch_retry_replays_its_200_body_and_writes_nothing(
    client: httpx.AsyncClient, database_url: str, resource: str
) -> None:
    path = f"/{resource}/{(await _user_and_post(client))[resource]}"
    change, later = _CHANGES[resource]
    headers = {"Idempotency-Key": f"patch-{resource}"}
    first = await client.patch(path, json=change, headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert first.json()[next(iter(change))] == next(iter(change.values()))
    assert (await client.patch(path, json=later)).status_code == 200  # someone else's change
    logged = len(await log_rows(database_url))

    again = await client.patch(path, json=change, headers=headers)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert answer(again) == answer(first)  # the first answer, not a second update
    now = (await client.get(path)).json()
    assert now[next(iter(later))] == next(iter(later.values()))
    assert len(await log_rows(database_url)) == logged


@pytest.mark.parametrize("resource", ["users", "posts"])
async def test_delete_retry_replays_a_bodiless_204_though_the_row_is_gone(
    client: httpx.AsyncClient, database_url: str, resource: str
) -> None:
    path = f"/{resource}/{(await _user_and_post(client))[resource]}"
    headers = {"Idempotency-Key": f"delete-{resource}"}
    first = await client.delete(path, headers=headers)
    assert first.status_code == 204 and first.content == b""
    logged = len(await log_rows(database_url))

    again = await client.delete(path, headers=headers)
    assert again.status_code == 204 and again.content == b""
    assert again.headers["idempotent-replayed"] == "true"
    assert answer(again) == answer(first)
    assert (await client.delete(path)).status_code == 404  # without the key: gone
    assert len(await log_rows(database_url)) == logged + 1  # only the 404 is recorded


async def test_same_key_on_a_patch_with_a_different_body_or_path_is_422(
    client: httpx.AsyncClient,
) -> None:
    ids = await _user_and_post(client)
    other = (await client.post("/users", json={"name": "Bob", "email": "bob@example.com"})).json()
    headers = {"Idempotency-Key": "patch-once"}
    await client.patch(f"/users/{ids['users']}", json={"name": "A"}, headers=headers)
    for path, body in (
        (f"/users/{ids['users']}", {"name": "B"}),
        (f"/users/{other['id']}", {"name": "A"}),
    ):
        refused = await client.patch(path, json=body, headers=headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert (await client.get(f"/users/{other['id']}")).json()["name"] == "Bob"


async def test_concurrent_patches_with_one_key_update_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    path = f"/users/{(await _user_and_post(client))['users']}"
    headers = {"Idempotency-Key": "patch-together"}
    responses = await asyncio.gather(
        *(client.patch(path, json={"name": "Together"}, headers=headers) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 5
    updates = [r for r in await log_rows(database_url) if r["operation"] == "users.update"]
    assert len(updates) == 1


async def test_concurrent_deletes_with_one_key_all_answer_204(
    client: httpx.AsyncClient, database_url: str
) -> None:
    path = f"/posts/{(await _user_and_post(client))['posts']}"
    headers = {"Idempotency-Key": "delete-together"}
    responses = await asyncio.gather(*(client.delete(path, headers=headers) for _ in range(6)))
    assert [r.status_code for r in responses] == [204] * 6
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 5
    deletes = [r for r in await log_rows(database_url) if r["operation"] == "posts.delete"]
    assert [d["outcome"] for d in deletes] == ["committed"]


async def test_a_key_whose_answer_was_not_kept_is_409_not_a_guess(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # Keys committed by a version that stored no answer for PATCH: nothing to replay.
    path = f"/users/{(await _user_and_post(client))['users']}"
    headers = {"Idempotency-Key": "old-patch"}
    await client.patch(path, json={"name": "A"}, headers=headers)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("UPDATE idempotency_keys SET response = NULL WHERE key = 'old-patch'")
    finally:
        await conn.close()
    retry = await client.patch(path, json={"name": "A"}, headers=headers)
    assert retry.status_code == 409
    assert retry.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("run", ["upgrade", "downgrade"])
async def test_migration_runs_refuse_a_key_naming_it(
    client: httpx.AsyncClient, database_url: str, run: str
) -> None:
    before = (await client.get("/migrations")).json()["current"]
    refused = await client.post(
        f"/migrations/{run}", json={}, headers={"Idempotency-Key": "migrate-1"}
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"] == [
        {"field": "Idempotency-Key", "message": "this endpoint does not take an Idempotency-Key"}
    ]
    assert (await client.get("/migrations")).json()["current"] == before


async def test_the_document_says_which_writes_take_a_key_and_how_a_replay_looks(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("http://127.0.0.1/openapi.json")).json()
    keyed = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
            if "Idempotency-Key" not in names or method == "get":
                continue
            keyed.add(f"{method.upper()} {path}")
            success = [r for status, r in operation["responses"].items() if status[0] == "2"]
            assert success and all("Idempotent-Replayed" in r["headers"] for r in success)
    assert keyed == {
        "POST /api/v1/users",
        "POST /api/v1/users/batch",
        "PATCH /api/v1/users/{user_id}",
        "DELETE /api/v1/users/{user_id}",
        "POST /api/v1/posts",
        "PATCH /api/v1/posts/{post_id}",
        "DELETE /api/v1/posts/{post_id}",
    }


def _header_names_and_calls(dependant: Dependant) -> tuple[set[str], set[object]]:
    headers = {param.alias for param in dependant.header_params}
    calls: set[object] = {dependant.call}
    for sub in dependant.dependencies:
        more_headers, more_calls = _header_names_and_calls(sub)
        headers |= more_headers
        calls |= more_calls
    return headers, calls


def test_every_write_route_takes_the_key_or_refuses_it() -> None:
    # A new write route that did neither would ignore a client's key and replay nothing.
    modules = [import_module(f"{api.__name__}.{m.name}") for m in iter_modules(api.__path__)]
    writes = [
        route
        for module in modules
        for route in getattr(getattr(module, "router", None), "routes", [])
        if isinstance(route, APIRoute)
        and (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert len(writes) == 9
    for route in writes:
        headers, calls = _header_names_and_calls(route.dependant)
        takes_key = "Idempotency-Key" in headers
        assert takes_key != (refuse_idempotency_key in calls), route.path

"""The posts API: CRUD, filtering by user, the author rule and cascading deletes."""

from __future__ import annotations

import httpx
import pytest

from tests.test_users_api import create_user


async def test_create_read_update_delete_post(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Ada", "ada@example.com")
    created = await client.post(
        "/posts", json={"user_id": user["id"], "title": "Notes", "body": "On the engine"}
    )
    assert created.status_code == 201
    post = created.json()
    assert created.headers["location"] == f"/api/v1/posts/{post['id']}"
    assert (await client.get(f"/posts/{post['id']}")).json()["body"] == "On the engine"

    patched = await client.patch(f"/posts/{post['id']}", json={"title": "Sketch"})
    assert patched.json()["title"] == "Sketch" and patched.json()["body"] == "On the engine"

    with_posts = (await client.get(f"/users/{user['id']}")).json()
    assert [p["title"] for p in with_posts["posts"]] == ["Sketch"]
    assert with_posts["post_count"] == 1

    assert (await client.delete(f"/posts/{post['id']}")).status_code == 204
    assert (await client.get(f"/posts/{post['id']}")).status_code == 404
    assert (await client.delete(f"/posts/{post['id']}")).status_code == 404


async def test_post_for_missing_user_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/posts", json={"user_id": 4242, "title": "Orphan"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "user_id", "message": "user 4242 does not exist"}
    ]
    assert (await client.get("/posts")).json()["items"] == []


async def test_deleting_a_user_deletes_their_posts(client: httpx.AsyncClient) -> None:
    ada = await create_user(client, "Ada", "ada@example.com")
    bob = await create_user(client, "Bob", "bob@example.com")
    for owner in (ada, ada, bob):
        await client.post("/posts", json={"user_id": owner["id"], "title": "t"})
    assert (await client.delete(f"/users/{ada['id']}")).status_code == 204
    remaining = (await client.get("/posts")).json()["items"]
    assert [p["user_id"] for p in remaining] == [bob["id"]]


async def test_posts_filter_by_user_and_page_by_keyset(client: httpx.AsyncClient) -> None:
    ada = await create_user(client, "Ada", "ada@example.com")
    bob = await create_user(client, "Bob", "bob@example.com")
    for i in range(5):
        await client.post("/posts", json={"user_id": ada["id"], "title": f"a{i}"})
        await client.post("/posts", json={"user_id": bob["id"], "title": f"b{i}"})
    first = (await client.get("/posts", params={"user_id": ada["id"], "limit": 3})).json()
    assert [p["title"] for p in first["items"]] == ["a0", "a1", "a2"]
    rest = (
        await client.get(
            "/posts", params={"user_id": ada["id"], "limit": 3, "after": first["next"]}
        )
    ).json()
    assert [p["title"] for p in rest["items"]] == ["a3", "a4"] and rest["next"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "x" * 201},
        {"title": "ok", "body": "x" * 50_001},
        {"title": "ok", "body": "é" * 50_001},
        {"title": "ok", "body": "nul\x00"},
        {"title": "ok", "user_id": 0},
    ],
)
async def test_invalid_post_is_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    user = await create_user(client, "Ada", "ada@example.com")
    response = await client.post("/posts", json={"user_id": user["id"]} | body)
    assert response.status_code == 422
    assert response.json()["errors"]


async def test_longest_allowed_post_body_is_stored(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Ada", "ada@example.com")
    body = "é" * 50_000
    response = await client.post("/posts", json={"user_id": user["id"], "title": "t", "body": body})
    assert response.status_code == 201
    assert (await client.get(f"/posts/{response.json()['id']}")).json()["body"] == body


async def test_posts_are_published_unless_created_as_drafts(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Ada", "ada@example.com")
    plain = await client.post("/posts", json={"user_id": user["id"], "title": "Hi"})
    assert plain.json()["published"] is True
    draft = await client.post(
        "/posts", json={"user_id": user["id"], "title": "Later", "published": False}
    )
    assert draft.json()["published"] is False
    patched = await client.patch(f"/posts/{draft.json()['id']}", json={"published": True})
    assert patched.json()["published"] is True
    assert (
        await client.patch(f"/posts/{plain.json()['id']}", json={"published": None})
    ).status_code == 422

"""The users API: CRUD, keyset pages, search, embedding posts, and its error answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import statements


async def create_user(client: httpx.AsyncClient, name: str, email: str) -> dict[str, Any]:
    response = await client.post("/users", json={"name": name, "email": email})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_read_update_delete_user(client: httpx.AsyncClient) -> None:
    created = await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201
    user = created.json()
    assert created.headers["location"] == f"/api/v1/users/{user['id']}"
    assert user["name"] == "Ada" and user["post_count"] == 0
    assert user["created_at"] and user["updated_at"]

    fetched = await client.get(f"/users/{user['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["posts"] == [] and fetched.json()["email"] == "ada@example.com"

    patched = await client.patch(f"/users/{user['id']}", json={"name": "Ada Lovelace"})
    assert patched.status_code == 200
    assert patched.json()["name"] == "Ada Lovelace"
    assert patched.json()["email"] == "ada@example.com"
    assert patched.json()["updated_at"] >= user["updated_at"]

    deleted = await client.delete(f"/users/{user['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    gone = await client.get(f"/users/{user['id']}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["status"] == 404 and "does not exist" in gone.json()["detail"]


async def test_duplicate_email_is_409_whatever_its_case(client: httpx.AsyncClient) -> None:
    await create_user(client, "Ada", "ada@example.com")
    again = await client.post("/users", json={"name": "Other", "email": "ADA@Example.com"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["title"] == "Conflict"
    assert "email already exists" in again.json()["detail"]
    listing = await client.get("/users")
    assert [u["name"] for u in listing.json()["items"]] == ["Ada"]


async def test_patch_to_taken_email_is_409_and_changes_nothing(client: httpx.AsyncClient) -> None:
    await create_user(client, "Ada", "ada@example.com")
    bob = await create_user(client, "Bob", "bob@example.com")
    response = await client.patch(
        f"/users/{bob['id']}", json={"name": "Robert", "email": "Ada@example.com"}
    )
    assert response.status_code == 409
    unchanged = (await client.get(f"/users/{bob['id']}")).json()
    assert unchanged["name"] == "Bob" and unchanged["email"] == "bob@example.com"


async def test_unknown_user_is_404_for_every_verb(client: httpx.AsyncClient) -> None:
    assert (await client.get("/users/999")).status_code == 404
    assert (await client.patch("/users/999", json={"name": "x"})).status_code == 404
    assert (await client.delete("/users/999")).status_code == 404


async def test_keyset_pages_walk_every_user_once(client: httpx.AsyncClient) -> None:
    ids = [(await create_user(client, f"U{i}", f"u{i}@example.com"))["id"] for i in range(7)]
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        params = {"limit": 3} | ({"after": after} if after is not None else {})
        page = (await client.get("/users", params=params)).json()
        seen += [u["id"] for u in page["items"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert seen == ids
    assert pages == 3


async def test_last_full_page_has_no_next_cursor(client: httpx.AsyncClient) -> None:
    for i in range(4):
        await create_user(client, f"U{i}", f"u{i}@example.com")
    page = (await client.get("/users", params={"limit": 4})).json()
    assert len(page["items"]) == 4 and page["next"] is None


async def test_search_matches_name_or_email_case_insensitively(client: httpx.AsyncClient) -> None:
    await create_user(client, "Ada Lovelace", "ada@example.com")
    await create_user(client, "Grace Hopper", "grace@navy.mil")
    await create_user(client, "Alan Turing", "alan@LOVELACE.org")
    found = (await client.get("/users", params={"q": "lovelace"})).json()["items"]
    assert sorted(u["name"] for u in found) == ["Ada Lovelace", "Alan Turing"]
    navy = (await client.get("/users", params={"q": "NAVY"})).json()["items"]
    assert [u["name"] for u in navy] == ["Grace Hopper"]
    # LIKE wildcards in the search text are literal characters, not patterns.
    assert (await client.get("/users", params={"q": "%"})).json()["items"] == []
    assert (await client.get("/users", params={"q": "_"})).json()["items"] == []


async def test_embed_posts_costs_the_same_statements_for_any_page_size(
    client: httpx.AsyncClient,
) -> None:
    for i in range(12):
        user = await create_user(client, f"U{i}", f"u{i}@example.com")
        for j in range(2):
            r = await client.post("/posts", json={"user_id": user["id"], "title": f"t{j}"})
            assert r.status_code == 201
    small = await client.get("/users", params={"limit": 5, "embed": "posts"})
    large = await client.get("/users", params={"limit": 200, "embed": "posts"})
    assert len(small.json()["items"]) == 5 and len(large.json()["items"]) == 12
    assert all(len(u["posts"]) == 2 and u["post_count"] == 2 for u in large.json()["items"])
    assert statements(small) == statements(large) == 2
    plain = await client.get("/users", params={"limit": 200})
    assert statements(plain) == 1
    assert "posts" not in plain.json()["items"][0]
    assert plain.json()["items"][0]["post_count"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "email": "a@example.com"},
        {"name": "   ", "email": "a@example.com"},
        {"name": "x" * 101, "email": "a@example.com"},
        {"name": "Nul\x00name", "email": "a@example.com"},
        {"name": "Ada", "email": "not-an-email"},
        {"name": "Ada", "email": "a\x00@example.com"},
        {"name": "Ada"},
        {"name": 5, "email": "a@example.com"},
        {"name": "Ada", "email": "a@example.com", "admin": True},
    ],
)
async def test_invalid_user_is_422_with_field_errors(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/users", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["errors"]
    assert all(e["field"].startswith("body") for e in problem["errors"])
    assert (await client.get("/users")).json()["items"] == []


async def test_patch_with_null_is_422(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Ada", "ada@example.com")
    response = await client.patch(f"/users/{user['id']}", json={"name": None})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.name"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 501},
        {"limit": -1},
        {"limit": 10**9},
        {"after": "not-a-cursor"},
        {"after": -5},
        {"after": 2**64},
        {"embed": "comments"},
        {"q": "a\x00b"},
        {"order": "sideways"},
    ],
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/users", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith("query.")


@pytest.mark.parametrize("user_id", ["0", "-1", "abc", str(2**63), "1.5"])
async def test_ids_that_cannot_exist_are_422(client: httpx.AsyncClient, user_id: str) -> None:
    assert (await client.get(f"/users/{user_id}")).status_code == 422


async def test_text_is_stored_byte_exact(client: httpx.AsyncClient) -> None:
    name = "  مرحبا 👩‍💻 Robert'); DROP TABLE users;--  "
    user = await create_user(client, name, "rtl@example.com")
    assert user["name"] == name
    assert (await client.get(f"/users/{user['id']}")).json()["name"] == name


async def test_every_response_carries_request_id_and_server_timing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/users")
    assert len(response.headers["x-request-id"]) >= 16
    assert statements(response) == 1
    echoed = await client.get("/users", headers={"X-Request-ID": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"
    hostile = await client.get("/users", headers={"X-Request-ID": "bad id\twith spaces"})
    assert hostile.headers["x-request-id"] != "bad id\twith spaces"
    missing = await client.get("/users/12345")
    assert missing.json()["request_id"] == missing.headers["x-request-id"]


async def test_descending_pages_start_from_the_newest_user(client: httpx.AsyncClient) -> None:
    ids = [(await create_user(client, f"U{i}", f"u{i}@example.com"))["id"] for i in range(5)]
    first = (await client.get("/users", params={"order": "desc", "limit": 2})).json()
    assert [u["id"] for u in first["items"]] == ids[:-3:-1]
    rest = (
        await client.get("/users", params={"order": "desc", "limit": 5, "after": first["next"]})
    ).json()
    assert [u["id"] for u in rest["items"]] == ids[2::-1] and rest["next"] is None


async def test_count_counts_all_or_matching_users(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await create_user(client, f"Ann {i}", f"ann{i}@example.com")
    await create_user(client, "Bob", "bob@example.com")
    assert (await client.get("/users/count")).json() == {"total": 4}
    assert (await client.get("/users/count", params={"q": "ann"})).json() == {"total": 3}


async def test_a_user_with_posts_is_one_statement(client: httpx.AsyncClient) -> None:
    user = await create_user(client, "Ada", "ada@example.com")
    for i in range(3):
        await client.post("/posts", json={"user_id": user["id"], "title": f"t{i}"})
    response = await client.get(f"/users/{user['id']}")
    assert [p["title"] for p in response.json()["posts"]] == ["t0", "t1", "t2"]
    assert response.json()["post_count"] == 3
    assert statements(response) == 1


async def test_a_full_page_of_500_with_posts_is_still_two_statements(
    client: httpx.AsyncClient,
) -> None:
    users = [
        {"name": f"U{i}", "email": f"u{i}@example.com", "posts": [{"title": "t"}]}
        for i in range(501)
    ]
    for start in (0, 250, 500):
        batch = {"users": users[start : start + 250]}
        assert (await client.post("/users/batch", json=batch)).status_code == 201
    page = await client.get("/users", params={"limit": 500, "embed": "posts"})
    assert len(page.json()["items"]) == 500 and page.json()["next"] is not None
    assert all(len(u["posts"]) == 1 for u in page.json()["items"])
    assert statements(page) == 2

"""GET /posts sorted by created_at or title and filtered by published; /posts/export."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from stackdeck.backend.schemas import cursor
from stackdeck.backend.services.posts import PostQueries
from tests.helpers import statements
from tests.pg import asyncpg_dsn
from tests.support.browse import INSTANTS, seed_users, walk, walk_back

SORTS = [f"{sign}{c}" for c in ("id", "created_at", "title") for sign in ("", "-")]
# Titles repeat (ties only the id breaks) and one needs CSV quoting in its body.
TITLES = ["Engines", "engines", "Ödön", 'A "quoted", title', "Engines"]


@pytest.fixture
async def seeded(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    await seed_users(database_url, count=6)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        users = [r["id"] for r in await conn.fetch("SELECT id FROM users ORDER BY id")]
        await conn.executemany(
            "INSERT INTO posts (user_id, title, body, published, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (
                    users[i % len(users)],
                    TITLES[i % len(TITLES)],
                    'line one\nline "two", end',
                    i % 3 != 0,
                    INSTANTS[i % len(INSTANTS)],
                )
                for i in range(23)
            ],
        )
    finally:
        await conn.close()
    monkeypatch.setattr(PostQueries, "export_chunk_rows", 4)  # exports cross chunks
    return database_url


async def sql_post_ids(database_url: str, where: str, sort: str, *args: Any) -> list[int]:
    column = sort.removeprefix("-")
    direction = " DESC" if sort.startswith("-") else ""
    order = f"id{direction}" if column == "id" else f"{column}{direction}, id{direction}"
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(f"SELECT id FROM posts WHERE {where} ORDER BY {order}", *args)
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def test_every_sort_and_filter_walks_every_post_once_in_order(
    client: httpx.AsyncClient, seeded: str
) -> None:
    some_user = (await client.get("/users", params={"limit": 2})).json()["items"][1]["id"]
    views: list[tuple[dict[str, Any], str, list[Any]]] = [
        ({}, "true", []),
        ({"published": "true"}, "published", []),
        ({"published": "false"}, "NOT published", []),
        ({"published": "true", "user_id": some_user}, "published AND user_id = $1", [some_user]),
    ]
    for params, where, args in views:
        for sort in SORTS:
            items, responses = await walk(client, params | {"sort": sort}, 4, "/posts")
            expected = await sql_post_ids(seeded, where, sort, *args)
            assert [p["id"] for p in items] == expected, (params, sort)
            assert expected, (params, sort)
            assert all(statements(r) == 1 for r in responses)


async def test_walking_back_by_prev_gives_the_same_pages_in_reverse(
    client: httpx.AsyncClient, seeded: str
) -> None:
    for params, where in (({}, "true"), ({"published": "true"}, "published")):
        for sort in SORTS:
            view = params | {"sort": sort, "limit": 4}
            _, forward = await walk(client, view, 4, "/posts")
            back = await walk_back(client, view, forward[-1].json(), "/posts")
            assert [r.json() for r in reversed(back)] == [r.json() for r in forward[:-1]], sort
            pages = [*reversed(back), forward[-1]]
            rows = [p["id"] for r in pages for p in r.json()["items"]]
            assert rows == await sql_post_ids(seeded, where, sort), (params, sort)
            assert all(statements(r) == 1 for r in back)


async def test_post_count_matches_sql_for_every_filter(
    client: httpx.AsyncClient, seeded: str
) -> None:
    some_user = (await client.get("/users", params={"limit": 2})).json()["items"][1]["id"]
    views: list[tuple[dict[str, Any], str, list[Any]]] = [
        ({}, "true", []),
        ({"published": "true"}, "published", []),
        ({"published": "false"}, "NOT published", []),
        ({"user_id": some_user}, "user_id = $1", [some_user]),
        (
            {"published": "false", "user_id": some_user},
            "NOT published AND user_id = $1",
            [some_user],
        ),
    ]
    conn = await asyncpg.connect(asyncpg_dsn(seeded))
    try:
        for params, where, args in views:
            counted = await conn.fetchval(f"SELECT count(*) FROM posts WHERE {where}", *args)
            response = await client.get("/posts/count", params=params)
            assert response.json() == {"total": counted}, params
            assert statements(response) == 1
    finally:
        await conn.close()
    assert (await client.get("/posts/count", params={"published": "maybe"})).status_code == 422


async def test_post_exports_hold_the_filtered_posts_in_order(
    client: httpx.AsyncClient, seeded: str
) -> None:
    view = {"sort": "-title", "published": "false"}
    expected, _ = await walk(client, view, 50, "/posts")
    exported = await client.get("/posts/export", params=view)
    assert exported.headers["content-disposition"].startswith('attachment; filename="posts-')
    rows = list(csv.DictReader(io.StringIO(exported.text, newline="")))
    assert [
        {
            **row,
            "id": int(row["id"]),
            "user_id": int(row["user_id"]),
            "published": row["published"] == "true",
            "created_at": datetime.fromisoformat(row["created_at"]),
        }
        for row in rows
    ] == [p | {"created_at": datetime.fromisoformat(p["created_at"])} for p in expected]
    ndjson = await client.get("/posts/export", params=view | {"format": "ndjson"})
    assert [json.loads(line) for line in ndjson.text.splitlines()] == expected
    array = await client.get("/posts/export", params=view | {"format": "json"})
    assert array.json() == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "body"}, "query.sort"),
        ({"published": "maybe"}, "query.published"),
        ({"sort": "title", "cursor": "garbage"}, "query.cursor"),
        # A `prev` whose title is a number: a cursor we never handed out.
        ({"sort": "title", "cursor": cursor.encode("title", [1, 1], before=True)}, "query.cursor"),
        ({"sort": "title", "after": 3}, "query.after"),
        ({"user_id": 0}, "query.user_id"),
    ],
)
async def test_bad_post_list_parameters_are_422_naming_them(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/posts", params=params)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_a_title_cursor_is_refused_for_another_sort(
    client: httpx.AsyncClient, seeded: str
) -> None:
    first = (await client.get("/posts", params={"sort": "title", "limit": 2})).json()
    second = (await client.get("/posts", params={"sort": "title", "cursor": first["next"]})).json()
    for foreign in (first["next"], second["prev"]):
        other = await client.get("/posts", params={"sort": "-title", "cursor": foreign})
        assert other.status_code == 422
        assert [e["field"] for e in other.json()["errors"]] == ["query.cursor"]

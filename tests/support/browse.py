"""Users worth sorting and filtering: repeated names, shared instants, awkward text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from tests.pg import asyncpg_dsn

SORTS = [
    f"{sign}{column}"
    for column in ("id", "name", "email", "created_at", "post_count")
    for sign in ("", "-")
]
# Names repeat, and sort differently by case and by accent; one needs CSV quoting.
NAMES = ["Ada", "ada", "Bob", "Zoë", "Émile", 'O"Hara, Jr.\nthe 2nd', "Bob", "Ada"]
BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# Instants repeat too, so every sort has ties that only the id breaks.
INSTANTS = [BASE, BASE + timedelta(days=1), BASE, BASE + timedelta(microseconds=1)]


async def seed_users(database_url: str, count: int = 24) -> None:
    """`count` users with posts, written in SQL (the trigger keeps post_count right)."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with conn.transaction():
            ids = [
                await conn.fetchval(
                    "INSERT INTO users (name, email, created_at) VALUES ($1, $2, $3) RETURNING id",
                    NAMES[i % len(NAMES)],
                    f"{'ab'[i % 2]}{i % 5}.user{i}@example.org",
                    INSTANTS[i % len(INSTANTS)],
                )
                for i in range(count)
            ]
            posts = [(user_id, f"post {j}") for i, user_id in enumerate(ids) for j in range(i % 4)]
            await conn.executemany("INSERT INTO posts (user_id, title) VALUES ($1, $2)", posts)
    finally:
        await conn.close()


async def sql_ids(database_url: str, where: str, order_by: str, *args: Any) -> list[int]:
    """Ids in SQL's own order: what the API's walk must match."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(f"SELECT id FROM users WHERE {where} ORDER BY {order_by}", *args)
        return [row["id"] for row in rows]
    finally:
        await conn.close()


def order_by(sort: str) -> str:
    column = sort.removeprefix("-")
    direction = " DESC" if sort.startswith("-") else ""
    return f"{column}{direction}, id{direction}" if column != "id" else f"id{direction}"


async def walk(
    client: httpx.AsyncClient, params: dict[str, Any], limit: int = 3, path: str = "/users"
) -> tuple[list[dict[str, Any]], list[httpx.Response]]:
    """Every page of `path` for these parameters, following `next` as the cursor."""
    items: list[dict[str, Any]] = []
    responses: list[httpx.Response] = []
    cursor = None
    for _ in range(10_000):
        page_params = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await client.get(path, params=page_params)
        assert response.status_code == 200, response.text
        responses.append(response)
        items += response.json()["items"]
        cursor = response.json()["next"]
        if cursor is None:
            return items, responses
    raise AssertionError("the walk did not end")


async def walk_back(
    client: httpx.AsyncClient, params: dict[str, Any], last: dict[str, Any], path: str = "/users"
) -> list[httpx.Response]:
    """The pages before `last` (a page's JSON), nearest first, following `prev`."""
    responses: list[httpx.Response] = []
    cursor = last["prev"]
    for _ in range(10_000):
        if cursor is None:
            return responses
        response = await client.get(path, params=params | {"cursor": cursor})
        assert response.status_code == 200, response.text
        responses.append(response)
        cursor = response.json()["prev"]
    raise AssertionError("the walk back did not end")

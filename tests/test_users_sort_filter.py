"""GET /users sorted by any column and filtered: keyset walks, cursors, counts, 422s."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections import Counter
from typing import Any

import anyio
import asyncpg
import httpx
import hypothesis
import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st

from tests.helpers import statements
from tests.pg import asyncpg_dsn
from tests.support.browse import NAMES, SORTS, order_by, seed_users, sql_ids, walk, walk_back


@pytest.fixture
async def seeded(database_url: str) -> str:
    await seed_users(database_url)
    return database_url


async def test_every_sort_walks_every_row_once_in_order_in_one_statement_a_page(
    client: httpx.AsyncClient, seeded: str
) -> None:
    for sort in SORTS:
        items, responses = await walk(client, {"sort": sort}, limit=5)
        assert [u["id"] for u in items] == await sql_ids(seeded, "true", order_by(sort)), sort
        assert [statements(r) for r in responses] == [1] * len(responses), sort
        # In id order `next` is the last id, as before; in any other, an opaque cursor.
        first = responses[0].json()["next"]
        assert isinstance(first, int) if sort.endswith("id") else isinstance(first, str), sort


@pytest.mark.parametrize("embed", [{}, {"embed": "posts"}], ids=["plain", "embed=posts"])
async def test_walking_back_by_prev_gives_the_same_pages_in_reverse_in_every_sort(
    client: httpx.AsyncClient, seeded: str, embed: dict[str, str]
) -> None:
    for sort in SORTS:
        params = {"sort": sort, "limit": 5} | embed
        _, forward = await walk(client, params, limit=5)
        assert forward[0].json()["prev"] is None, sort
        back = await walk_back(client, params, forward[-1].json())
        # Page for page the same answer, `next` and `prev` included: every row once, ties
        # and all, the first page's `prev` null again.
        assert [r.json() for r in reversed(back)] == [r.json() for r in forward[:-1]], sort
        rows = [u["id"] for r in [*reversed(back), forward[-1]] for u in r.json()["items"]]
        assert rows == await sql_ids(seeded, "true", order_by(sort)), sort
        assert all(statements(r) == statements(forward[0]) for r in back), sort


async def test_prev_and_next_cross_at_any_page_with_filters(
    client: httpx.AsyncClient, seeded: str
) -> None:
    params: dict[str, Any] = {"sort": "-created_at", "posts_max": 2, "q": "a", "limit": 3}
    _, forward = await walk(client, params, limit=3)
    assert len(forward) > 2
    middle = forward[2].json()
    before = (await client.get("/users", params=params | {"cursor": middle["prev"]})).json()
    assert before == forward[1].json()
    again = (await client.get("/users", params=params | {"cursor": before["next"]})).json()
    assert again == middle


async def test_embedded_posts_page_is_two_statements_in_any_order(
    client: httpx.AsyncClient, seeded: str
) -> None:
    items, responses = await walk(client, {"sort": "-post_count", "embed": "posts"}, limit=7)
    assert [u["id"] for u in items] == await sql_ids(seeded, "true", order_by("-post_count"))
    assert all(len(u["posts"]) == u["post_count"] for u in items)
    assert [statements(r) for r in responses] == [2] * len(responses)


async def test_order_desc_and_after_keep_working_beside_sort(
    client: httpx.AsyncClient, seeded: str
) -> None:
    by_desc, _ = await walk(client, {"sort": "name", "order": "desc"})
    by_minus, _ = await walk(client, {"sort": "-name"})
    assert by_desc == by_minus
    first = (await client.get("/users", params={"limit": 4, "order": "desc"})).json()
    rest = await client.get("/users", params={"order": "desc", "after": first["next"]})
    ids = await sql_ids(seeded, "true", "id DESC")
    assert [u["id"] for u in first["items"] + rest.json()["items"]] == ids


async def test_post_count_follows_every_write_of_posts(
    client: httpx.AsyncClient, database_url: str
) -> None:
    ada = (await client.post("/users", json={"name": "Ada", "email": "ada@x.org"})).json()
    bob = (await client.post("/users", json={"name": "Bob", "email": "bob@x.org"})).json()
    posts = [
        (await client.post("/posts", json={"user_id": ada["id"], "title": f"t{i}"})).json()
        for i in range(3)
    ]
    await client.delete(f"/posts/{posts[0]['id']}")
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # Any writer counts, not only the API's: a post moved by hand, posts copied in.
        await conn.execute("UPDATE posts SET user_id = $1 WHERE id = $2", bob["id"], posts[1]["id"])
        await conn.copy_records_to_table(
            "posts", records=[(bob["id"], "copied")], columns=["user_id", "title"]
        )
        by_sql = await conn.fetch(
            "SELECT u.id, u.post_count, (SELECT count(*) FROM posts p WHERE p.user_id = u.id)"
            " AS counted FROM users u"
        )
    finally:
        await conn.close()
    assert {r["id"]: r["counted"] for r in by_sql} == {ada["id"]: 1, bob["id"]: 2}
    assert all(r["post_count"] == r["counted"] for r in by_sql)
    listed = (await client.get("/users", params={"sort": "-post_count"})).json()["items"]
    assert [(u["id"], u["post_count"]) for u in listed] == [(bob["id"], 2), (ada["id"], 1)]


# Each filter as the API takes it, and as SQL says it independently ($1 its value).
FILTERS: dict[str, tuple[str, Any]] = {
    "q": ("name ILIKE '%' || $1 || '%' OR email ILIKE '%' || $1 || '%'", "AD"),
    "name": ("name ILIKE '%' || $1 || '%'", "b"),
    "email": ("email ILIKE '%' || $1 || '%'", "A1."),
    "created_from": ("created_at >= $1::text::timestamptz", "2026-11-01T12:00:00.000001Z"),
    "created_to": ("created_at < $1::text::timestamptz", "2026-11-02T00:00:00+00:00"),
    "posts_min": ("(SELECT count(*) FROM posts WHERE user_id = users.id) >= $1::int", 2),
    "posts_max": ("(SELECT count(*) FROM posts WHERE user_id = users.id) <= $1::int", 1),
}
COMBINATIONS = [
    ["q"],
    ["name"],
    ["email"],
    ["created_from"],
    ["created_to"],
    ["posts_min"],
    ["posts_max"],
    ["name", "posts_min"],
    ["q", "created_to", "posts_max"],
    ["email", "created_to", "posts_min"],
]


@pytest.mark.parametrize("names", COMBINATIONS, ids="+".join)
async def test_filters_match_sql_in_any_sort_and_count(
    client: httpx.AsyncClient, seeded: str, names: list[str]
) -> None:
    where = " AND ".join(
        f"({FILTERS[name][0].replace('$1', f'${i}')})" for i, name in enumerate(names, 1)
    )
    args = [FILTERS[name][1] for name in names]
    args = [str(a) if isinstance(a, str) else a for a in args]
    params = {name: FILTERS[name][1] for name in names}
    expected_total = 0
    for sort in ("name", "-created_at", "post_count", "-id"):
        items, responses = await walk(client, params | {"sort": sort})
        expected = await sql_ids(seeded, where, order_by(sort), *args)
        assert [u["id"] for u in items] == expected, sort
        assert all(statements(r) == 1 for r in responses)
        expected_total = len(expected)
    assert 0 < expected_total < 24, "the filters must pick some rows, not all"
    count = await client.get("/users/count", params=params)
    assert count.json() == {"total": expected_total}


def token(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"sort": "name", "cursor": "not a cursor"}, "query.cursor"),
        ({"sort": "name", "cursor": token([1, 2])}, "query.cursor"),
        (
            {"sort": "name", "cursor": token({"v": 2, "sort": "name", "key": ["a", 1]})},
            "query.cursor",
        ),
        (
            {"sort": "name", "cursor": token({"v": 1, "sort": "-name", "key": ["a", 1]})},
            "query.cursor",
        ),
        (
            {"sort": "name", "cursor": token({"v": 1, "sort": "name", "key": [1, 1]})},
            "query.cursor",
        ),
        ({"sort": "name", "cursor": token({"v": 1, "sort": "name", "key": ["a"]})}, "query.cursor"),
        (
            {
                "sort": "post_count",
                "cursor": token({"v": 1, "sort": "post_count", "key": [True, 1]}),
            },
            "query.cursor",
        ),
        (
            {
                "sort": "post_count",
                "cursor": token({"v": 1, "sort": "post_count", "key": [1, 2**63]}),
            },
            "query.cursor",
        ),
        (
            {
                "sort": "created_at",
                "cursor": token({"v": 1, "sort": "created_at", "key": ["2026-11-01T12:00:00", 1]}),
            },
            "query.cursor",
        ),
        (
            {
                "sort": "created_at",
                "cursor": token({"v": 1, "sort": "created_at", "key": ["yesterday", 1]}),
            },
            "query.cursor",
        ),
        (
            {"sort": "email", "cursor": token({"v": 1, "sort": "email", "key": ["a\x00", 1]})},
            "query.cursor",
        ),
        ({"sort": "name", "cursor": "[" * 3000}, "query.cursor"),
        ({"sort": "name", "cursor": token("[" * 1500)}, "query.cursor"),
        ({"sort": "name", "cursor": "42"}, "query.cursor"),
        # A `prev` is as much the sort's as a `next`, and says "before" in one way only.
        (
            {
                "sort": "name",
                "cursor": token({"v": 1, "sort": "-name", "key": ["a", 1], "before": True}),
            },
            "query.cursor",
        ),
        (
            {
                "sort": "name",
                "cursor": token({"v": 1, "sort": "name", "key": ["a", 1], "before": False}),
            },
            "query.cursor",
        ),
        (
            {"sort": "-id", "cursor": token({"v": 1, "sort": "id", "key": [3], "before": True})},
            "query.cursor",
        ),
        (
            {"cursor": token({"v": 1, "sort": "id", "key": [3], "before": 1})},
            "query.cursor",
        ),
        ({"cursor": "0"}, "query.cursor"),
        ({"cursor": token({"v": 1, "sort": "name", "key": ["a", 1]})}, "query.cursor"),
        ({"cursor": "5", "after": 5}, "query.cursor"),
        ({"sort": "name", "after": 5}, "query.after"),
        ({"sort": "age"}, "query.sort"),
        ({"sort": "--name"}, "query.sort"),
        ({"sort": "-name", "order": "desc"}, "query.order"),
        ({"created_from": "yesterday"}, "query.created_from"),
        ({"created_to": "2026-13-01"}, "query.created_to"),
        ({"created_to": "9999-12-31T23:00:00-05:00"}, "query.created_to"),
        (
            {
                "sort": "created_at",
                "cursor": token(
                    {"v": 1, "sort": "created_at", "key": ["9999-12-31T23:00:00-05:00", 1]}
                ),
            },
            "query.cursor",
        ),
        ({"created_from": "2026-12-02", "created_to": "2026-12-01"}, "query.created_to"),
        ({"posts_min": -1}, "query.posts_min"),
        ({"posts_max": "many"}, "query.posts_max"),
        ({"posts_min": 5, "posts_max": 2}, "query.posts_max"),
        ({"name": "a\x00b"}, "query.name"),
        ({"email": "x" * 201}, "query.email"),
    ],
)
async def test_bad_cursors_and_filters_are_422_naming_the_parameter(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    for path in ("/users", "/users/count", "/users/export"):
        if path != "/users" and {"cursor", "after"} & params.keys():
            continue  # pages only
        if path == "/users/count" and {"sort", "order"} & params.keys():
            continue  # a count has no order
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], (path, response.text)


async def test_a_cursor_survives_its_row_being_deleted(
    client: httpx.AsyncClient, seeded: str
) -> None:
    first = (await client.get("/users", params={"sort": "name", "limit": 5})).json()
    await client.delete(f"/users/{first['items'][-1]['id']}")
    rest, _ = await walk(client, {"sort": "name", "cursor": first["next"]}, limit=50)
    expected = await sql_ids(seeded, "true", order_by("name"))
    assert [u["id"] for u in first["items"][:-1] + rest] == expected


# -- paging while others write ---------------------------------------------------------------

Mutation = tuple[str, int]  # ("insert", name index) or ("delete", pick)
mutations = st.lists(
    st.tuples(st.sampled_from(["insert", "delete"]), st.integers(0, 1_000)), max_size=3
)


@pytest.mark.timeout(300)
async def test_rows_present_throughout_a_walk_appear_once_whatever_others_write(
    client: httpx.AsyncClient, seeded: str
) -> None:
    emails = iter(range(10**6))

    async def mutate(plan: list[Mutation]) -> set[int]:
        deleted = set()
        for kind, pick in plan:
            if kind == "insert":
                body = {"name": NAMES[pick % len(NAMES)], "email": f"n{next(emails)}@x.org"}
                assert (await client.post("/users", json=body)).status_code == 201
            else:
                ids = await sql_ids(seeded, "true", "id")
                if not ids:
                    continue
                victim = ids[pick % len(ids)]
                if (await client.delete(f"/users/{victim}")).status_code == 204:
                    deleted.add(victim)
        return deleted

    async def walk_while_writing(sort: str, limit: int, plans: list[list[Mutation]]) -> None:
        present = set(await sql_ids(seeded, "true", "id"))
        deleted: set[int] = set()
        seen: list[dict[str, Any]] = []
        cursor = None
        for step in range(10_000):
            params: dict[str, Any] = {"sort": sort, "limit": limit}
            params |= {"cursor": cursor} if cursor else {}
            # The next page is read while another request writes (each plan once: rows
            # inserted ahead of the cursor on every page would keep the walk going).
            plan = plans[step] if step < len(plans) else []
            response, removed = await asyncio.gather(
                client.get("/users", params=params), mutate(plan)
            )
            deleted |= removed
            body = response.json()
            seen += body["items"]
            cursor = body["next"]
            if cursor is None:
                break
        ids = [u["id"] for u in seen]
        assert not [i for i, n in Counter(ids).items() if n > 1], "a row came twice"
        assert present - deleted <= set(ids), "a row present throughout was missed"
        # What was seen is in the sort's order (no row's key changed: none was updated).
        assert await in_sql_order(seeded, sort, seen)

    @given(
        sort=st.sampled_from(SORTS), limit=st.integers(1, 6), plans=st.lists(mutations, max_size=6)
    )
    @hypothesis.settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: a failure reports its first example at once, not minutes later.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def property(sort: str, limit: int, plans: list[list[Mutation]]) -> None:
        anyio.from_thread.run(functools.partial(walk_while_writing, sort, limit, plans))

    # Hypothesis is synchronous: it runs in a thread, the app on this loop.
    await anyio.to_thread.run_sync(property)


async def in_sql_order(database_url: str, sort: str, rows: list[dict[str, Any]]) -> bool:
    """Whether the rows' (column, id) keys are in the order PostgreSQL sorts them in
    (text by the column's collation), whether or not the rows still exist."""
    column = sort.removeprefix("-")
    kind = {"name": "varchar", "email": "varchar", "created_at": "timestamptz"}.get(
        column, "bigint"
    )
    direction = " DESC" if sort.startswith("-") else ""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        order = await conn.fetch(
            f"SELECT n FROM unnest($1::text[]::{kind}[], $2::bigint[]) WITH ORDINALITY"
            f" AS seen(k, id, n) ORDER BY k{direction}, id{direction}",
            [str(u[column]) for u in rows],
            [u["id"] for u in rows],
        )
    finally:
        await conn.close()
    return [r["n"] for r in order] == list(range(1, len(rows) + 1))

"""Hostile and malformed input: each answered with the documented problem+json, never a 500.

Decided here (and in the README): unknown query parameters are ignored, as most HTTP APIs
do; unknown body fields are refused (422), since a misspelt field would otherwise be lost
silently. Text is stored and returned exactly as sent: no Unicode normalisation, no
trimming, SQL-looking text is plain text. A non-JSON body is a 415; JSON that cannot be
parsed is a 422; bytes that are not UTF-8 (or nest too deep to parse) are a 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from stackdeck.backend.main import create_app
from tests.conftest import LiveServer, make_settings
from tests.helpers import serving
from tests.pg import PgCluster, asyncpg_dsn

JSON = {"content-type": "application/json"}
BASE_URL = "http://127.0.0.1/api/v1"
MiB = 1024 * 1024
BIG = 10**9
HUGE_ID = 2**63  # one past PostgreSQL's bigint


@dataclass(frozen=True)
class Hostile:
    method: str
    path: str
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def json_body(text: str) -> bytes:
    return text.encode()


# Every request runs against a database with user 1 (ada@example.com) and their post 1.
CASES: dict[str, Hostile] = {
    # invalid JSON
    "truncated": Hostile("POST", "/users", 422, b'{"name": "Ada", "email"'),
    "trailing garbage": Hostile("POST", "/users", 422, b'{"name": "A", "email": "a@b.co"} x'),
    "single quotes": Hostile("POST", "/users", 422, b"{'name': 'A', 'email': 'a@b.co'}"),
    "empty body": Hostile("POST", "/users", 422, b""),
    "not an object": Hostile("POST", "/users", 422, b"[]"),
    "null body": Hostile("POST", "/users", 422, b"null"),
    "a bare string": Hostile("POST", "/posts", 422, b'"hello"'),
    "NaN id": Hostile("POST", "/posts", 422, b'{"user_id": NaN, "title": "t"}'),
    "infinite id": Hostile("POST", "/posts", 422, b'{"user_id": 1e400, "title": "t"}'),
    "not UTF-8": Hostile("POST", "/users", 400, b'{"name": "\xc3\x28", "email": "a@b.co"}'),
    "nested 100k deep": Hostile("POST", "/users", 400, b"[" * 100_000),
    "lone surrogate": Hostile("POST", "/users", 422, b'{"name": "\\ud800", "email": "s@b.co"}'),
    # wrong types
    "name is a number": Hostile("POST", "/users", 422, b'{"name": 123, "email": "a@b.co"}'),
    "email is a list": Hostile("POST", "/users", 422, b'{"name": "A", "email": ["a@b.co"]}'),
    "name is an object": Hostile(
        "POST", "/users", 422, b'{"name": {"$gt": ""}, "email": "a@b.co"}'
    ),
    "title is a bool": Hostile("POST", "/posts", 422, b'{"user_id": 1, "title": true}'),
    "user_id is text": Hostile("POST", "/posts", 422, b'{"user_id": "one", "title": "t"}'),
    "user_id is a float": Hostile("POST", "/posts", 422, b'{"user_id": 1.5, "title": "t"}'),
    "users is an object": Hostile("POST", "/users/batch", 422, b'{"users": {}}'),
    "empty batch": Hostile("POST", "/users/batch", 422, b'{"users": []}'),
    "null name in patch": Hostile("PATCH", "/users/1", 422, b'{"name": null}'),
    "unknown body field": Hostile(
        "POST", "/users", 422, b'{"name": "A", "email": "a@b.co", "admin": true}'
    ),
    "blank name": Hostile("POST", "/users", 422, b'{"name": "   ", "email": "a@b.co"}'),
    "not an email": Hostile("POST", "/users", 422, b'{"name": "A", "email": "not-an-email"}'),
    # NUL bytes: body fields, keys, query strings, the path
    "NUL in name": Hostile("POST", "/users", 422, b'{"name": "A\\u0000da", "email": "a@b.co"}'),
    "NUL in email": Hostile("POST", "/users", 422, b'{"name": "A", "email": "a\\u0000@b.co"}'),
    "NUL in title": Hostile("POST", "/posts", 422, b'{"user_id": 1, "title": "\\u0000"}'),
    "NUL in post body": Hostile(
        "POST", "/posts", 422, b'{"user_id": 1, "title": "t", "body": "x\\u0000"}'
    ),
    "NUL in patch": Hostile("PATCH", "/posts/1", 422, b'{"body": "\\u0000"}'),
    "NUL in a batch post": Hostile(
        "POST",
        "/users/batch",
        422,
        b'{"users": [{"name": "A", "email": "a@b.co", "posts": [{"title": "t\\u0000"}]}]}',
    ),
    "NUL in a key": Hostile("POST", "/users", 422, b'{"na\\u0000me": "A", "email": "a@b.co"}'),
    "NUL in q": Hostile("GET", "/users?q=a%00b", 422),
    "NUL in count q": Hostile("GET", "/users/count?q=%00", 422),
    "NUL in after": Hostile("GET", "/users?after=1%00", 422),
    "NUL in user_id filter": Hostile("GET", "/posts?user_id=1%00", 422),
    "NUL in path id": Hostile("GET", "/users/1%00", 422),
    "NUL as path id": Hostile("DELETE", "/posts/%00", 422),
    # 10,000 characters
    "10k name": Hostile(
        "POST", "/users", 422, json_body(f'{{"name": "{"n" * 10_000}", "email": "a@b.co"}}')
    ),
    "10k email": Hostile(
        "POST", "/users", 422, json_body(f'{{"name": "A", "email": "{"e" * 10_000}@b.co"}}')
    ),
    "10k title": Hostile(
        "POST", "/posts", 422, json_body(f'{{"user_id": 1, "title": "{"t" * 10_000}"}}')
    ),
    "10k q": Hostile("GET", f"/users?q={'q' * 10_000}", 422),
    # limits
    **{
        f"limit={limit} on {path}": Hostile("GET", f"{path}?limit={limit}", 422)
        for path in ("/users", "/posts", "/transactions")
        for limit in ("0", "-1", str(BIG), "abc", "1.5", "")
    },
    "window=0": Hostile("GET", "/transactions/stats?window=0", 422),
    "window=10^9": Hostile("GET", f"/transactions/stats?window={BIG}", 422),
    # cursors that are not cursors
    **{
        f"after={after} on {path}": Hostile("GET", f"{path}?after={after}", 422)
        for path in ("/users", "/posts", "/transactions")
        for after in ("abc", "-1", str(HUGE_ID), "1e3", "MTIz%3D", "null", "[1]")
    },
    "order=sideways": Hostile("GET", "/users?order=sideways", 422),
    # the SSE stream is not fuzzed (it never ends), but its resume header is checked first
    **{
        f"Last-Event-ID {value}": Hostile(
            "GET", "/transactions/stream", 422, None, {"last-event-id": value}
        )
        for value in ("abc", "-1", str(HUGE_ID), "1; DROP TABLE transaction_log")
    },
    "embed=everything": Hostile("GET", "/users?embed=everything", 422),
    # path ids that are not ids
    "id 0": Hostile("GET", "/users/0", 422),
    "id -1": Hostile("GET", "/posts/-1", 422),
    "id past bigint": Hostile("GET", f"/users/{HUGE_ID}", 422),
    "id with SQL": Hostile("DELETE", "/users/1;DROP%20TABLE%20users", 422),
    "unknown id": Hostile("GET", "/posts/999999", 404),
    "unknown route": Hostile("GET", "/users/1/friends", 404),
    "wrong method": Hostile("PUT", "/users/1", 405, b"{}"),
    # unknown query parameters are ignored
    "unknown param on a read": Hostile("GET", "/users?admin=true&debug=1", 200),
    "unknown param on a write": Hostile(
        "POST", "/users?admin=true", 201, b'{"name": "Bob", "email": "bob@example.com"}'
    ),
    # wrong content type
    **{
        f"content-type {ct or 'missing'}": Hostile(
            "POST",
            "/users",
            415,
            b'{"name": "Eve", "email": "eve@example.com"}',
            {"content-type": ct} if ct else {},
        )
        for ct in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "",
        )
    },
    "content-type text/plain on patch": Hostile(
        "PATCH", "/posts/1", 415, b'{"title": "new"}', {"content-type": "text/plain"}
    ),
    # over 1 MiB, with a Content-Length
    "2 MiB body": Hostile(
        "POST", "/posts", 413, b'{"user_id": 1, "title": "' + b"x" * 2 * MiB + b'"}'
    ),
    "2 MiB body on a read": Hostile("GET", "/users", 413, b"x" * 2 * MiB),
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(pg: PgCluster, template_db: str) -> AsyncIterator[httpx.AsyncClient]:
    """One app and database for the whole table: the cases only read, or are refused."""
    name = await pg.create_database(template=template_db)
    app = create_app(make_settings(pg.url_for(name)))
    async with serving(app, BASE_URL) as client:
        user = await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
        post = await client.post("/posts", json={"user_id": 1, "title": "first"})
        assert (user.json()["id"], post.json()["id"]) == (1, 1)
        yield client
    await pg.drop_database(name)


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["type"] == "about:blank"
    assert problem["title"] and "Traceback" not in response.text


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_hostile_input_gets_a_documented_answer(
    seeded: httpx.AsyncClient, case: Hostile
) -> None:
    response = await seeded.request(case.method, case.path, content=case.body, headers=case.headers)
    if case.status < 400:
        assert response.status_code == case.status, response.text[:500]
    else:
        assert_problem(response, case.status)
    # Nothing hostile changed what was there.
    assert (await seeded.get("/users/1")).json()["post_count"] == 1


async def db_row(database_url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return await conn.fetchrow(sql, *args)
    finally:
        await conn.close()


EXACT = {
    "emoji with joiners and flags": "👩🏽‍💻 Ada 🇺🇦 🏳️‍🌈",
    "right-to-left": "مرحبا بالعالم — שלום",
    "bidi overrides": "\u202eevil\u202c \u200fRLM\u200e",
    "combining, not normalised": "e\u0301 vs \u00e9, A\u030a",
    "zero-width": "a\u200bb\u200dc\ufeff",
    "surrounding spaces": "  spaced  ",
    "4-byte CJK": "𠜎𠜱𠝹",
}


@pytest.mark.parametrize("text", EXACT.values(), ids=EXACT.keys())
async def test_unicode_is_stored_and_returned_byte_exact(
    client: httpx.AsyncClient, database_url: str, text: str
) -> None:
    created = await client.post("/users", json={"name": text, "email": "u@example.com"})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    post = await client.post("/posts", json={"user_id": user_id, "title": text, "body": text * 3})
    assert post.status_code == 201, post.text
    read = (await client.get(f"/users/{user_id}")).json()
    for got in (created.json()["name"], read["name"], read["posts"][0]["title"]):
        assert got.encode() == text.encode()
    assert read["posts"][0]["body"].encode() == (text * 3).encode()
    row = await db_row(database_url, "SELECT name FROM users WHERE id = $1", user_id)
    assert row["name"].encode() == text.encode()
    renamed = await client.patch(f"/users/{user_id}", json={"name": text[::-1] or "x"})
    assert renamed.json()["name"].encode() == (text[::-1] or "x").encode()


async def test_internationalised_email_is_kept_exactly(client: httpx.AsyncClient) -> None:
    email = "δοκιμή@παράδειγμα.δοκιμή"
    created = await client.post("/users", json={"name": "Δ", "email": email})
    assert created.status_code == 201 and created.json()["email"] == email
    # Case-insensitive uniqueness holds beyond ASCII too.
    again = await client.post("/users", json={"name": "Δ", "email": email.upper()})
    assert_problem(again, 409)


SQL_LOOKING = [
    "Robert'); DROP TABLE users;--",
    "' OR '1'='1",
    "1; DELETE FROM posts WHERE true; --",
    "$1 $$ $body$ \\x00 E'\\n'",
    "%_\\%",
]


@pytest.mark.parametrize("text", SQL_LOOKING)
async def test_sql_looking_text_is_stored_literally(
    client: httpx.AsyncClient, database_url: str, text: str
) -> None:
    other = await client.post("/users", json={"name": "Bystander", "email": "by@example.com"})
    created = await client.post("/users", json={"name": text, "email": "sql@example.com"})
    assert created.status_code == 201, created.text
    post = await client.post("/posts", json={"user_id": created.json()["id"], "title": text})
    assert post.json()["title"] == text
    assert (await client.get(f"/users/{created.json()['id']}")).json()["name"] == text
    # As a search it matches itself literally, and nothing else.
    found = (await client.get("/users", params={"q": text})).json()["items"]
    assert [u["id"] for u in found] == [created.json()["id"]]
    count = await db_row(database_url, "SELECT count(*) AS n FROM users")
    assert count["n"] == 2 and other.status_code == 201


async def test_ten_thousand_characters_where_allowed_are_kept(client: httpx.AsyncClient) -> None:
    user = (await client.post("/users", json={"name": "A", "email": "a@b.co"})).json()
    body = "ب" * 10_000
    post = await client.post("/posts", json={"user_id": user["id"], "title": "t", "body": body})
    assert post.status_code == 201 and post.json()["body"] == body


async def test_unknown_query_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    await client.post("/users", json={"name": "A", "email": "a@b.co"})
    plain = (await client.get("/users")).json()
    noisy = (
        await client.get("/users", params={"sort": "name", "offset": "5", "x": "\u202e"})
    ).json()
    assert noisy == plain


async def chunks(total: int, size: int = 65536) -> AsyncIterator[bytes]:
    yield b'{"user_id": 1, "title": "t", "body": "'
    sent = 0
    while sent < total:
        yield b"x" * size
        sent += size
    yield b'"}'


async def test_chunked_body_over_the_limit_is_413_over_real_http(
    live_client: httpx.AsyncClient,
) -> None:
    """Through uvicorn, so the body really arrives chunked, with no Content-Length."""
    await live_client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    request = live_client.build_request("POST", "/posts", content=chunks(2 * MiB), headers=JSON)
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await live_client.send(request)
    assert_problem(response, 413)
    assert (await live_client.get("/posts")).json()["items"] == []
    # Under the limit, chunked is fine.
    small = live_client.build_request("POST", "/posts", content=chunks(40_000, 1000), headers=JSON)
    assert (await live_client.send(small)).status_code == 201


async def test_a_body_past_its_content_length_never_reaches_the_app(
    live_server: LiveServer, live_client: httpx.AsyncClient
) -> None:
    """The body limit counts only chunked bodies: with a Content-Length the server reads
    that many bytes as the body and no more. What follows them is the next request (here
    not one)."""
    body = b'{"name": "Ada", "email": "ada@example.com"}'
    host, port = live_server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /api/v1/users HTTP/1.1\r\n"
            + f"Host: {host}:{port}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
            + b"x" * 2 * MiB
        )
        answers = b""
        # The server may reset the connection over the bytes it never read.
        with contextlib.suppress(ConnectionError):
            await writer.drain()
            while chunk := await asyncio.wait_for(reader.read(65536), timeout=10):
                answers += chunk
    finally:
        writer.close()
    # Either the declared bytes were the request (201) or uvicorn refused what followed them
    # before the app answered (400); never the app reading past them (413, or 422 for JSON
    # with 2 MiB after it).
    statuses = re.findall(rb"HTTP/1.1 (\d{3}) ", answers)
    assert set(statuses) <= {b"201", b"400"}, answers[:200]
    users = (await live_client.get("/users")).json()["items"]
    assert [u["email"] for u in users] in ([], ["ada@example.com"])
    assert (await live_client.get("/health")).status_code == 200


@pytest.mark.parametrize(
    "path", ["/users/%00", "/users?q=%00", "/posts?after=%00", "/users/1%00", "/%00"]
)
async def test_nul_in_the_url_over_real_http(live_client: httpx.AsyncClient, path: str) -> None:
    response = await live_client.get(path)
    assert response.status_code in (404, 422)
    assert_problem(response, response.status_code)

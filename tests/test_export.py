"""GET /users/export: every matching row, in order, as CSV, NDJSON or one JSON array."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from typing import Any

import httpx
import pytest

from stackdeck.backend.services.users import UserQueries
from tests.support.browse import NAMES, seed_users, walk


@pytest.fixture
async def seeded(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    await seed_users(database_url)
    # Small chunks, so every export here crosses several chunk boundaries.
    monkeypatch.setattr(UserQueries, "export_chunk_rows", 5)
    return database_url


FIELDS = ["id", "name", "email", "post_count", "created_at", "updated_at"]


def as_read(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the API's JSON has it: numbers, and instants as the same moments."""
    return {
        field: int(value)
        if field in ("id", "post_count")
        else datetime.fromisoformat(value)
        if field.endswith("_at")
        else value
        for field, value in row.items()
    }


def moments(user: dict[str, Any]) -> dict[str, Any]:
    return {
        field: datetime.fromisoformat(value) if field.endswith("_at") else value
        for field, value in user.items()
    }


VIEWS = [
    {},
    {"sort": "-name"},
    {"sort": "created_at", "posts_min": 1},
    {"sort": "-post_count", "q": "a", "created_to": "2026-11-02"},
    {"name": "nobody matches this"},
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: "&".join(f"{k}={v[k]}" for k in v) or "all")
async def test_exports_hold_the_filtered_rows_in_order(
    client: httpx.AsyncClient, seeded: str, view: dict[str, Any]
) -> None:
    expected, _ = await walk(client, view, limit=7)

    exported = await client.get("/users/export", params=view | {"format": "csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = exported.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="users-\d{8}T\d{6}Z\.csv"', disposition)
    reader = csv.DictReader(io.StringIO(exported.text, newline=""))
    assert reader.fieldnames == FIELDS
    assert [as_read(row) for row in reader] == [moments(user) for user in expected]

    ndjson = await client.get("/users/export", params=view | {"format": "ndjson"})
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert [json.loads(line) for line in ndjson.text.splitlines()] == expected

    array = await client.get("/users/export", params=view | {"format": "json"})
    assert array.headers["content-type"] == "application/json"
    assert array.json() == expected


async def test_csv_quotes_per_rfc_4180(client: httpx.AsyncClient, seeded: str) -> None:
    awkward = 'O"Hara, Jr.\nthe 2nd'
    assert awkward in NAMES
    exported = await client.get("/users/export", params={"name": 'O"Hara'})
    # The quote doubled, the field quoted since it holds a comma, a quote and a line break;
    # records end in CRLF.
    assert '"O""Hara, Jr.\nthe 2nd"' in exported.text
    assert exported.text.startswith("id,name,email,post_count,created_at,updated_at\r\n")
    assert exported.text.endswith("\r\n")


async def test_export_through_a_real_server_streams_every_row(
    live_client: httpx.AsyncClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed_users(database_url, count=40)
    monkeypatch.setattr(UserQueries, "export_chunk_rows", 3)
    chunks = []
    async with live_client.stream(
        "GET", "/users/export", params={"format": "ndjson", "sort": "email"}
    ) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
    lines = b"".join(chunks).decode().splitlines()
    expected, _ = await walk(live_client, {"sort": "email"}, limit=50)
    assert [json.loads(line) for line in lines] == expected and len(lines) == 40


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "xml"}, "query.format"),
        ({"sort": "age"}, "query.sort"),
        ({"posts_min": 3, "posts_max": 1}, "query.posts_max"),
        ({"created_from": "soon"}, "query.created_from"),
    ],
)
async def test_bad_export_parameters_are_422_naming_them(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/users/export", params=params)
    assert response.status_code == 422 and response.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert [e["field"] for e in response.json()["errors"]] == [field]

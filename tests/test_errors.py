"""Errors leave as problem+json with the right status; nothing partial is ever left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from stackdeck.backend.db.errors import infrastructure_error
from stackdeck.backend.errors import InvalidInput, SchemaNotReady, Unavailable
from stackdeck.backend.main import create_app
from stackdeck.backend.repositories.posts import PostsRepository
from stackdeck.backend.repositories.users import UsersRepository
from tests.conftest import make_settings
from tests.helpers import free_port, serving
from tests.pg import asyncpg_dsn
from tests.test_users_api import create_user


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong_verb = await client.put("/users")
    assert wrong_verb.status_code == 405
    assert wrong_verb.json()["title"] == "Method not allowed"


async def test_invalid_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/users", content=b'{"name": "Ada", "email"', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'", "email": "a@example.com"}'
    response = await client.post(
        "/users", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_chunked_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'", "email": "a@example.com"}'

    response = await client.post(
        "/users", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/users")).json()["items"] == []


async def test_unreachable_database_is_503_with_retry_after_and_degraded_health() -> None:
    dead = f"postgresql+asyncpg://stackdeck:s3cret@127.0.0.1:{free_port()}/nowhere"
    app = create_app(make_settings(dead, connect_timeout=2, pool_timeout=2))
    async with serving(app) as client:
        health = await client.get("/health")
        assert health.status_code == 200
        body = health.json()
        assert (body["status"], body["database"], body["schema"]) == ("degraded", "down", None)
        assert "connect" in body["reason"].lower() and "s3cret" not in body["reason"]
        for request in (
            client.get("/users"),
            client.post("/users", json={"name": "Ada", "email": "ada@example.com"}),
        ):
            response = await request
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"] == "application/problem+json"
            assert "s3cret" not in response.text


async def test_failure_after_the_first_statement_leaves_nothing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await create_user(client, "Ada", "ada@example.com")
    real_add = PostsRepository.add

    async def add_then_lose_connection(self: PostsRepository, post: object) -> object:
        await real_add(self, post)  # type: ignore[arg-type]
        raise ConnectionResetError("connection lost after the insert")

    monkeypatch.setattr(PostsRepository, "add", add_then_lose_connection)
    response = await client.post("/posts", json={"user_id": user["id"], "title": "half"})
    assert response.status_code == 503
    monkeypatch.undo()
    assert (await client.get("/posts")).json()["items"] == []
    assert (await client.get(f"/users/{user['id']}")).json()["post_count"] == 0


async def test_a_failed_commit_never_follows_a_2xx(client: httpx.AsyncClient, app: object) -> None:
    engine = app.state.engine  # type: ignore[attr-defined]

    def fail_commit(conn: object) -> None:
        raise ConnectionResetError("commit lost")

    event.listen(engine.sync_engine, "commit", fail_commit)
    try:
        response = await client.post("/users", json={"name": "Ada", "email": "ada@example.com"})
    finally:
        event.remove(engine.sync_engine, "commit", fail_commit)
    assert response.status_code == 503
    assert (await client.get("/users")).json()["items"] == []


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    body = b'{"name": "Ada", "email": "ada@example.com"}'
    response = await client.post("/users", content=body, headers=headers)
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Unsupported media type"
    assert (await client.get("/users")).json()["items"] == []


@pytest.mark.parametrize("resource", ["users", "posts"])
async def test_patch_racing_a_delete_is_404_not_500(
    client: httpx.AsyncClient,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    resource: str,
) -> None:
    """Found by the model-based test: the row vanished between the read and the UPDATE."""
    user = await create_user(client, "Ada", "ada@example.com")
    post = (await client.post("/posts", json={"user_id": user["id"], "title": "t"})).json()
    target = user["id"] if resource == "users" else post["id"]
    repository: Any = UsersRepository if resource == "users" else PostsRepository
    real_get = repository.get

    async def get_then_lose_the_row(self: Any, *args: Any, **kwargs: Any) -> Any:
        row = await real_get(self, *args, **kwargs)
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:  # a concurrent DELETE that commits before our UPDATE
            await conn.execute(f"DELETE FROM {resource} WHERE id = $1", target)
        finally:
            await conn.close()
        return row

    monkeypatch.setattr(repository, "get", get_then_lose_the_row)
    field = "name" if resource == "users" else "title"
    response = await client.patch(f"/{resource}/{target}", json={field: "new"})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (asyncpg.InterfaceError("connection is closed"), Unavailable),
        (asyncpg.exceptions.ConnectionDoesNotExistError("gone"), Unavailable),
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), Unavailable),
        (asyncpg.exceptions.UndefinedTableError("no users"), SchemaNotReady),
        (asyncpg.exceptions.NumericValueOutOfRangeError("out of range"), InvalidInput),
        (asyncpg.exceptions.UnsupportedClientFeatureError("a bug"), type(None)),
    ],
)
def test_read_pool_errors_unwrapped_by_sqlalchemy_get_the_same_answers(
    error: Exception, expected: type
) -> None:
    # The read pool raises asyncpg's own exceptions; they map as the wrapped ones do.
    assert type(infrastructure_error(error)) is expected


def test_a_value_the_driver_cannot_encode_is_invalid_input_and_never_quoted() -> None:
    error = asyncpg.exceptions._base.DataError("invalid input for query argument $1: 'secret'")
    translated = infrastructure_error(error)
    assert isinstance(translated, InvalidInput) and "secret" not in str(translated)

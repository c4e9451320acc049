"""Errors leave as problem+json with the right status; nothing partial is ever left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event

from backend.main import create_app
from backend.repositories.posts import PostsRepository
from tests.conftest import make_settings
from tests.helpers import free_port
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
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1/api/v1"
        ) as client:
            health = await client.get("/health")
            assert health.status_code == 200
            assert health.json() == {"status": "degraded", "database": "down", "schema": None}
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

"""Loopback by default, Host allow-list, no foreign-origin writes, bearer token when exposed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from stackdeck.backend.main import create_app
from stackdeck.backend.settings import Settings
from tests.conftest import make_settings
from tests.helpers import serving
from tests.test_settings import run_cli

TOKEN = "t0ken-for-tests"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]:8000", "127.0.0.1:5555"])
async def test_loopback_names_are_served(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get("/users", headers={"Host": host})
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "rebind.attacker.test:8000", "10.0.0.5", ""])
async def test_foreign_host_is_refused(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get("/users", headers={"Host": host})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Host not allowed"


async def test_configured_host_names_are_served(database_url: str) -> None:
    settings = make_settings(database_url, allowed_hosts="deck.internal, other.test")
    app = create_app(settings)
    async with serving(app, "http://deck.internal") as c:
        assert (await c.get("/api/v1/users")).status_code == 200
        assert (await c.get("/api/v1/users", headers={"Host": "nope.test"})).status_code == 400


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1.evil.test", "http://["]
)
async def test_foreign_origin_cannot_write(client: httpx.AsyncClient, origin: str) -> None:
    body = {"name": "Mallory", "email": "m@evil.example"}
    response = await client.post("/users", json=body, headers={"Origin": origin})
    assert response.status_code == 403
    assert response.json()["detail"] == "cross-origin writes are refused"
    assert (await client.get("/users")).json()["items"] == []


async def test_own_origin_and_no_origin_can_write(client: httpx.AsyncClient) -> None:
    ok = await client.post(
        "/users",
        json={"name": "Ada", "email": "ada@example.com"},
        headers={"Origin": "http://localhost:8000"},
    )
    assert ok.status_code == 201
    plain = await client.post("/users", json={"name": "Bob", "email": "bob@example.com"})
    assert plain.status_code == 201


async def test_no_cors_is_offered(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/users",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    read = await client.get("/users", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in read.headers


@pytest.fixture
async def token_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, api_token=SecretStr(TOKEN)))
    async with serving(app, "http://127.0.0.1") as c:
        yield c


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/transactions", "/openapi.json"])
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
async def test_token_guards_every_endpoint_but_health(
    token_client: httpx.AsyncClient, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await token_client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_right_token_opens_the_api_and_health_needs_none(
    token_client: httpx.AsyncClient,
) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert (await token_client.get("/api/v1/users", headers=auth)).status_code == 200
    created = await token_client.post(
        "/api/v1/users", json={"name": "Ada", "email": "ada@example.com"}, headers=auth
    )
    assert created.status_code == 201
    assert (await token_client.get("/api/v1/health")).status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_binding_beyond_loopback_needs_a_token(host: str) -> None:
    with pytest.raises(ValidationError, match="STACKDECK_API_TOKEN"):
        Settings(_env_file=None, host=host)
    assert Settings(_env_file=None, host=host, api_token=SecretStr("x")).host == host


def test_serve_refuses_an_open_bind_without_a_token_in_one_line() -> None:
    result = run_cli("serve", "--host", "0.0.0.0")
    assert result.returncode == 2
    assert "STACKDECK_API_TOKEN" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

"""Fixtures: a real PostgreSQL for the session, a migrated database per test, the app on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

from backend.main import create_app
from backend.settings import Settings
from tests.pg import PgCluster, create_migrated_template, start_cluster


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("pg"))
    yield cluster
    if cluster.embedded is not None:
        cluster.embedded.stop()


@pytest.fixture(scope="session")
def template_db(pg: PgCluster) -> Iterator[str]:
    name = asyncio.run(create_migrated_template(pg))
    yield name
    asyncio.run(pg.drop_database(name))


@pytest.fixture
async def database_url(pg: PgCluster, template_db: str) -> AsyncIterator[str]:
    """A database of its own for each test, cloned from the migrated template."""
    name = await pg.create_database(template=template_db)
    yield pg.url_for(name)
    await pg.drop_database(name)


@pytest.fixture
async def empty_database_url(pg: PgCluster) -> AsyncIterator[str]:
    """A database with no schema at all, for migration tests."""
    name = await pg.create_database()
    yield pg.url_for(name)
    await pg.drop_database(name)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(_env_file=None, database_url=SecretStr(database_url), **overrides)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1/api/v1") as c:
        yield c

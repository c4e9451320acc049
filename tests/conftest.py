"""Fixtures: a real PostgreSQL for the session, a migrated database per test, the app on it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from stackdeck.backend.main import create_app
from stackdeck.backend.settings import Settings
from tests.helpers import asgi_client, uvicorn_serving
from tests.pg import PgCluster, create_migrated_template, start_cluster
from tests.standby import StandbyServer, make_standby
from tests.support.embedded import embedded_data_dir, wait_until_stopped


def pytest_configure(config: pytest.Config) -> None:
    # pytest keeps only the newest three temp dirs per user and deletes the rest, so two
    # checkouts testing at once would delete each other's live PostgreSQL data dirs.
    checkout = hashlib.sha1(str(config.rootpath).encode()).hexdigest()[:8]
    root = Path(tempfile.gettempdir()) / f"stackdeck-tests-{checkout}"
    root.mkdir(exist_ok=True)
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(root))
    # The console reads the user's config file: the tests (and the consoles they start in
    # tmux) get an empty config dir of their own, never the developer's theme or keymap.
    os.environ.pop("STACKDECK_CONFIG", None)
    os.environ["XDG_CONFIG_HOME"] = str(root / "config-home")


@contextmanager
def data_dir(name: str) -> Iterator[Path]:
    """A directory for PostgreSQL data, outside pytest's temp tree.

    pytest resets its temp root to mode 0700 whenever a session starts; the embedded
    server runs as its own user and would lose access to a data dir inside it.
    """
    path = Path(tempfile.mkdtemp(prefix=f"stackdeck-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pg_data_dir() -> Iterator[Path]:
    with data_dir("test") as path:
        yield path


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    with data_dir("session") as path:
        cluster = start_cluster(path)
        yield cluster
        if cluster.embedded is not None:
            cluster.embedded.stop()


@pytest.fixture(scope="session")
def template_db(pg: PgCluster) -> Iterator[str]:
    name = asyncio.run(create_migrated_template(pg))
    yield name
    asyncio.run(pg.drop_database(name))


@pytest.fixture(scope="session")
def standby(pg: PgCluster, template_db: str) -> Iterator[StandbyServer]:
    """One streaming standby of the session's server, for the whole session.

    Made after the template, though any database created later on the primary reaches it
    too, once replayed.
    """
    if pg.embedded is None:
        pytest.skip("the standby is made with the embedded server's binaries and data dir")
    server = make_standby(pg.embedded)
    try:
        yield server
    finally:
        server.remove()


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


# A password that must never be shown: the secrets tests grep everything a user sees for it.
CANARY = "Canary-Pw-7f3e91c4"


@pytest.fixture
async def canary_url(pg: PgCluster, database_url: str) -> AsyncIterator[str]:
    """The test database, reached as a role whose password is the canary."""
    await pg.execute(
        f"DO $$ BEGIN CREATE ROLE canary LOGIN SUPERUSER PASSWORD '{CANARY}'; "
        "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    yield make_url(database_url).set(username="canary", password=CANARY).render_as_string(False)


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


@dataclass
class LiveServer:
    app: FastAPI
    url: str


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The app under a real uvicorn on a free loopback port, in this test's event loop."""
    application = create_app(settings)
    async with uvicorn_serving(application) as url:
        yield LiveServer(application, url)


@pytest.fixture
async def live_client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{live_server.url}/api/v1", timeout=30) as c:
        yield c


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as c:
        yield c


@pytest.fixture(scope="session")
def warm_data_dir() -> Iterator[Path]:
    """A STACKDECK_DATA_DIR made once by the real commands (`migrate upgrade`, then `seed`),
    stopped: tests copy it (`stackdeck_data_dir`) instead of waiting for initdb each time."""
    with embedded_data_dir() as path:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKDECK_")}
        env["STACKDECK_DATA_DIR"] = str(path)
        for command in (["migrate", "upgrade"], ["seed", "--users", "3"]):
            subprocess.run(
                [sys.executable, "-m", "stackdeck.backend.cli", *command],
                check=True,
                capture_output=True,
                timeout=120,
                env=env,
            )
        wait_until_stopped(path / "pgdata")
        yield path


@pytest.fixture
def stackdeck_data_dir(warm_data_dir: Path) -> Iterator[Path]:
    """A migrated data dir with 3 users of its own; no PostgreSQL for it outlives the test."""
    with embedded_data_dir(template=warm_data_dir) as path:
        yield path

"""Console fixtures: a real backend (uvicorn in a thread) on the test database, a client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import ApiClient
from tests.conftest import make_settings

SIZE = (160, 48)


def start_backend(database_url: str) -> BackendThread:
    backend = BackendThread(make_settings(database_url))
    backend.start()
    return backend


@pytest.fixture
def backend(database_url: str) -> Iterator[BackendThread]:
    backend = start_backend(database_url)
    yield backend
    backend.stop()


@pytest.fixture
def empty_backend(empty_database_url: str) -> Iterator[BackendThread]:
    backend = start_backend(empty_database_url)
    yield backend
    backend.stop()


def make_console(backend: BackendThread, **options: object) -> StackdeckApp:
    read_only = bool(options.pop("read_only", False))
    client = ApiClient(backend.url, read_only=read_only)
    return StackdeckApp(client, **options)  # type: ignore[arg-type]


@pytest.fixture
def console(backend: BackendThread) -> StackdeckApp:
    return make_console(backend)

"""pytest-alembic's built-in checks on the real history, against a real empty database.

Its auto-collecting plugin is disabled (see pyproject); its test functions run from here
with a runner built on an AsyncEngine, which migrations/env.py accepts as the connection.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_alembic import MigrationContext, create_alembic_fixture
from pytest_alembic import tests as alembic_tests
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.pg import alembic_config


@pytest.fixture
def alembic_engine(empty_database_url: str) -> Iterator[AsyncEngine]:
    engine = create_async_engine(empty_database_url, poolclass=pool.NullPool)
    yield engine


# The URL is never used: env.py runs on the engine pytest-alembic hands it.
alembic_runner = create_alembic_fixture(alembic_config("postgresql+asyncpg://unused/unused"))


def test_single_head_revision(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_single_head_revision(alembic_runner)


def test_upgrade_from_base_to_head(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_upgrade(alembic_runner)


def test_model_definitions_match_ddl(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_model_definitions_match_ddl(alembic_runner)


def test_up_down_consistency(alembic_runner: MigrationContext) -> None:
    alembic_tests.test_up_down_consistency(alembic_runner)

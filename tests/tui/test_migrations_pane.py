"""The migrations pane: `m` migrates an empty database to head, `d` downgrades one step."""

from __future__ import annotations

import pytest

from backend.launcher import BackendThread
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import has_migrations_api, loads_idle, until
from tui.screens.migration import MigrationScreen
from tui.widgets.pane import SCHEMA_NOT_MIGRATED

pytestmark = pytest.mark.skipif(
    not has_migrations_api(), reason="the backend has no /migrations API yet"
)


async def test_m_migrates_an_empty_database_to_head(empty_backend: BackendThread) -> None:
    app = make_console(empty_backend)
    async with app.run_test(size=SIZE) as pilot:
        migrations = app.migrations
        await until(pilot, lambda: loads_idle(app) and migrations.state is not None)
        assert migrations.state is not None
        assert not migrations.state["at_head"] and migrations.state["pending"] > 0
        assert str(app.users.message.render()) == SCHEMA_NOT_MIGRATED
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MigrationScreen))
        screen = app.screen
        assert isinstance(screen, MigrationScreen)
        assert "CREATE TABLE" in screen.sql.upper()
        await pilot.press("y")
        await until(pilot, lambda: screen.phase == "done", within=30)
        assert screen.outcome is not None and screen.outcome["ok"], screen.outcome
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, MigrationScreen))
        await until(
            pilot,
            lambda: (
                loads_idle(app)
                and migrations.state is not None
                and migrations.state["at_head"]
                and app.users.total == 0
                and not app.users.message.display
            ),
        )
        await until(pilot, lambda: app.transactions.connected)
        assert migrations.table.row_count == len(migrations.state["history"])


async def test_d_downgrades_one_step_after_confirming(backend: BackendThread) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        migrations = app.migrations
        await until(pilot, lambda: loads_idle(app) and migrations.state is not None)
        assert migrations.state is not None and migrations.state["at_head"]
        head = migrations.state["heads"]
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, MigrationScreen))
        screen = app.screen
        assert isinstance(screen, MigrationScreen)
        await pilot.press("y")
        await until(pilot, lambda: screen.phase == "done", within=30)
        assert screen.outcome is not None and screen.outcome["ok"], screen.outcome
        await pilot.press("escape")
        await until(
            pilot,
            lambda: (
                loads_idle(app)
                and migrations.state is not None
                and migrations.state["pending"] == 1
                and migrations.state["current"] != head
            ),
        )


async def test_cancelling_the_confirmation_runs_nothing(empty_backend: BackendThread) -> None:
    app = make_console(empty_backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.migrations.state is not None)
        await pilot.press("m")
        await until(pilot, lambda: isinstance(app.screen, MigrationScreen))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, MigrationScreen))
        assert not any(r.method == "POST" for r in app.client.log)

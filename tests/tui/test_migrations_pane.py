"""The migrations pane: `m` migrates an empty database to head, `d` downgrades one step."""

from __future__ import annotations

from stackdeck.backend.db.locks import MIGRATION_LOCK_KEY
from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.screens.migration import MigrationScreen
from stackdeck.tui.widgets.pane import SCHEMA_NOT_MIGRATED
from tests.migrations import connection
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import confirm_migration, loads_idle, open_migration, until


async def test_m_migrates_an_empty_database_to_head(empty_backend: BackendThread) -> None:
    app = make_console(empty_backend)
    async with app.run_test(size=SIZE) as pilot:
        migrations = app.migrations
        await until(pilot, lambda: loads_idle(app) and migrations.state is not None)
        assert migrations.state is not None
        assert not migrations.state["at_head"] and migrations.state["pending"] > 0
        assert str(app.users.message.render()) == SCHEMA_NOT_MIGRATED
        screen = await open_migration(pilot, app, "m")
        assert "CREATE TABLE" in screen.sql.upper()
        outcome = await confirm_migration(pilot, screen)
        assert outcome["ok"], outcome
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
        outcome = await confirm_migration(pilot, await open_migration(pilot, app, "d"))
        assert outcome["ok"], outcome
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
        await open_migration(pilot, app, "m")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, MigrationScreen))
        assert not any(r.method == "POST" for r in app.client.log)


async def test_m_while_another_migration_runs_shows_the_409_and_stays_usable(
    empty_backend: BackendThread,
) -> None:
    app = make_console(empty_backend)
    url = empty_backend.settings.database_url_value() or ""
    # Another process's run, as far as the backend can tell: it holds the migration lock.
    async with connection(url) as holder:
        await holder.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: loads_idle(app) and app.migrations.state is not None)
            screen = await open_migration(pilot, app, "m")
            outcome = await confirm_migration(pilot, screen)
            assert outcome["ok"] is False and outcome["status"] == 409
            shown = str(screen.query_one("#mig-outcome").render())
            assert "a migration is running" in shown, shown
            assert "Traceback" not in shown
            upgrade = [r for r in app.client.log if r.method == "POST"]
            assert [r.status for r in upgrade] == [409]
            await pilot.press("enter")
            await until(pilot, lambda: not isinstance(app.screen, MigrationScreen))
            # Nothing ran: the pane still says the schema is empty, and the console answers.
            await until(pilot, lambda: loads_idle(app) and app.migrations.state is not None)
            assert app.migrations.state is not None
            assert app.migrations.state["current"] == []
            assert app.migrations.state["running"] is True
            await pilot.press("r")
            await until(pilot, lambda: loads_idle(app))
            assert app.is_running

"""`q` asks first while a real write or migration is on the wire, and quits at once otherwise."""

from __future__ import annotations

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.screens.confirm import ConfirmScreen
from tests.faults import table_locked
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, open_migration, until
from tests.tui.seed import seed_users


async def test_q_during_a_blocked_delete_asks_and_staying_lets_it_finish(
    backend: BackendThread, database_url: str
) -> None:
    seed_users(backend.url, 2)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 2)
        async with table_locked(database_url):
            await pilot.press("delete")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")  # the DELETE now waits on the lock
            await until(pilot, lambda: app.client.writes_in_flight == 1)
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await until(pilot, lambda: loads_idle(app) and app.users.total == 1)
        assert app.is_running and app.client.writes_in_flight == 0
        await pilot.press("q")  # nothing in flight: no question
        await until(pilot, lambda: not app.is_running)


async def test_q_during_a_running_migration_asks_first(
    backend: BackendThread, database_url: str
) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.migrations.state is not None)
        async with table_locked(database_url, "posts"):  # the downgrade waits on it
            screen = await open_migration(pilot, app, "d")
            await pilot.press("y")
            await until(pilot, lambda: screen.phase == "running")
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: screen.phase == "done", within=30)
        assert screen.outcome is not None and screen.outcome["ok"], screen.outcome
        assert app.is_running


async def test_q_during_a_blocked_load_quits_at_once_without_an_error(
    backend: BackendThread, database_url: str
) -> None:
    app = make_console(backend)
    # Leaving run_test re-raises any worker's failure: a traceback a user would see.
    async with table_locked(database_url), app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.users.loading)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)

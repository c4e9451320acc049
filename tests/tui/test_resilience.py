"""Backend down and back, read-only mode, an unmigrated database, quitting mid-write."""

from __future__ import annotations

import httpx
import pytest

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.client import ApiClient, ReadOnlyError
from stackdeck.tui.screens.confirm import ConfirmScreen
from stackdeck.tui.screens.form import FormScreen
from stackdeck.tui.widgets.pane import SCHEMA_NOT_MIGRATED
from tests.tui.conftest import SIZE, make_console, start_backend
from tests.tui.helpers import loads_idle, tx_lines, until
from tests.tui.seed import seed_users


async def test_backend_down_shows_a_banner_and_recovers_on_its_own(
    backend: BackendThread, database_url: str
) -> None:
    app = make_console(backend, health_every=0.2)
    async with app.run_test(size=SIZE) as pilot:
        banner = app.query_one("#banner")
        tx = app.transactions
        await until(pilot, lambda: loads_idle(app) and tx.connected)
        await pilot.press("n", *"Before", "tab", *"before@example.com", "enter")
        await until(pilot, lambda: len(tx_lines(app)) == 1)
        backend.stop(release_database=False)
        await until(pilot, lambda: banner.display and app.backend_down)
        assert "backend unreachable" in str(banner.render())
        await until(pilot, lambda: not tx.connected)
        # While the console's backend is down, another one writes to the same database.
        other = start_backend(database_url)
        try:
            seed_users(other.url, 2, prefix="meanwhile")
            seed_users(other.url, 1, prefix="meanwhile")  # the same emails: a rollback
        except httpx.HTTPStatusError:
            pass
        finally:
            other.stop()
        backend.start()
        await until(pilot, lambda: not banner.display and not app.backend_down, within=15)
        await until(pilot, lambda: tx.connected, within=15)
        # Resumed with Last-Event-ID: what happened meanwhile is shown, once each, in order.
        await until(pilot, lambda: len(tx_lines(app)) == 3)
        ids = [int(item["id"]) for item in tx.shown]
        assert ids == sorted(set(ids))
        lines = tx_lines(app)
        assert "committed" in lines[0] and "committed" in lines[1]
        assert "rolled back" in lines[2]
        # The panes work again: a write goes through and streams in.
        await pilot.press("n", *"Back", "tab", *"back@example.com", "enter")
        await until(pilot, lambda: loads_idle(app) and app.users.total == 4)
        await until(pilot, lambda: len(tx_lines(app)) == 4)


async def test_read_only_hides_write_keys_and_the_client_refuses_writes(
    backend: BackendThread,
) -> None:
    app = make_console(backend, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 0)
        for action in ("new_user", "new_post", "batch_demo", "upgrade", "downgrade"):
            assert app.check_action(action, ()) is False
        assert app.users.check_action("delete_user", ()) is False
        assert app.posts.check_action("edit_post", ()) is False
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        footer_keys = {key for key, active in app.active_bindings.items() if active.binding.show}
        assert "n" not in footer_keys and "m" not in footer_keys
        assert "READ-ONLY" in app.sub_title
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not any(t.startswith("New user") for t in titles)
    client = ApiClient(backend.url, read_only=True)
    with pytest.raises(ReadOnlyError):
        await client.create_user("Eve", "eve@example.com")
    assert not any(r.method == "POST" for r in client.log)
    await client.aclose()


async def test_unmigrated_database_says_press_m(empty_backend: BackendThread) -> None:
    app = make_console(empty_backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.message.display)
        assert str(app.users.message.render()) == SCHEMA_NOT_MIGRATED
        assert "not migrated" in app.sub_title


async def test_quitting_during_a_write_asks_first(backend: BackendThread) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app))
        app.client.writes_in_flight += 1  # as if a POST were on the wire
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert app.is_running
        app.client.writes_in_flight -= 1

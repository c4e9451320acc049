"""The users pane: paging over a bounded window, g/G, search, forms with the API's errors."""

from __future__ import annotations

from textual.worker import Worker, WorkerState

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.screens.confirm import ConfirmScreen
from stackdeck.tui.screens.form import FormScreen
from stackdeck.tui.widgets.users_pane import PAGE_SIZE
from tests.helpers import eventually
from tests.migrations import connection
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, until
from tests.tui.seed import seed_users


async def test_paging_past_the_first_page_keeps_a_bounded_window(backend: BackendThread) -> None:
    seed_users(backend.url, 260)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        users.window.capacity = 150
        await until(pilot, lambda: loads_idle(app) and users.total == 260)
        assert len(users.window) == PAGE_SIZE  # one page, not the table
        for _ in range(30):
            await pilot.press("pagedown")
            await until(pilot, lambda: loads_idle(app))
        assert users.window.at_end
        assert users.window.last_id == max(int(r.id) for r in users.window.rows)
        assert len(users.window) < 150 + PAGE_SIZE
        assert users.table.row_count == len(users.window)
        assert not users.window.at_start  # the first rows were dropped
        await pilot.press("g")
        await until(pilot, lambda: loads_idle(app) and users.window.at_start)
        assert users.table.cursor_row == 0
        assert users.current_user() is not None
        assert users.current_user().email == "user0000@example.com"  # type: ignore[union-attr]
        await pilot.press("G")
        await until(pilot, lambda: loads_idle(app) and users.window.at_end)
        assert users.current_user().email == "user0259@example.com"  # type: ignore[union-attr]
        assert len(users.window) == PAGE_SIZE  # from the end by keyset, not a scan


async def test_scrolling_back_up_fetches_the_previous_page(backend: BackendThread) -> None:
    seed_users(backend.url, 250)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 250)
        await pilot.press("G")
        await until(pilot, lambda: loads_idle(app) and users.window.at_end)
        assert not users.window.at_start
        for _ in range(12):
            await pilot.press("pageup")
            await until(pilot, lambda: loads_idle(app))
        assert users.window.at_start
        assert users.window.rows[0].email == "user0000@example.com"


async def test_slash_searches_on_the_server(backend: BackendThread) -> None:
    seed_users(backend.url, 30)
    seed_users(backend.url, 3, prefix="zed")
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 33)
        await pilot.press("slash", *"zed")
        await until(pilot, lambda: loads_idle(app) and users.total == 3)
        assert [r.email for r in users.window.rows] == [
            "zed0000@example.com",
            "zed0001@example.com",
            "zed0002@example.com",
        ]
        assert any("q=zed" in r.path for r in app.client.log)
        await pilot.press("escape")
        await until(pilot, lambda: loads_idle(app) and users.total == 33)


async def test_new_user_form_shows_duplicate_and_invalid_email_beside_the_field(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 1)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 1)
        await pilot.press("n", *"Copy", "tab", *"user0000@example.com", "enter")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        form = app.screen
        error = form.query_one("#error-email")
        await until(pilot, lambda: "exists" in str(error.render()).lower())
        email = form.query_one("#field-email")
        email.value = "not-an-email"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(
            pilot, lambda: "exists" not in str(error.render()).lower() and bool(str(error.render()))
        )
        assert isinstance(app.screen, FormScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen))
        assert app.users.total == 1


async def test_e_edits_and_delete_removes_after_confirming(backend: BackendThread) -> None:
    seed_users(backend.url, 2)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 2)
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        name = app.screen.query_one("#field-name")
        name.value = "Renamed"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await until(pilot, lambda: loads_idle(app) and users.window.rows[0].name == "Renamed")
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: loads_idle(app) and users.total == 1)
        assert [r.email for r in users.window.rows] == ["user0001@example.com"]


async def test_escape_cancels_a_load_that_is_stuck_on_the_database(backend: BackendThread) -> None:
    seed_users(backend.url, 150)
    app = make_console(backend)
    url = backend.settings.database_url_value() or ""
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 150)
        first_page = list(users.window.rows)
        async with connection(url) as holder, holder.transaction():
            # Every read of users now waits for this transaction: the next load really hangs.
            await holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")

            async def a_read_waits_on_the_lock() -> bool:
                waiting = await holder.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted"
                    " AND relation = 'users'::regclass"
                )
                return bool(waiting)

            await pilot.press("G")
            await eventually(a_read_waits_on_the_lock)
            loads: list[Worker[None]] = [
                w for w in app.workers if w.group == "users-load" and w.is_running
            ]
            assert len(loads) == 1 and users.loading
            assert "loading" in str(users.status.render())
            await pilot.press("escape")
            await until(pilot, lambda: loads[0].state == WorkerState.CANCELLED)
            assert not users.loading
            assert "load cancelled" in str(users.status.render())
            # Still usable while the database is stuck: the old rows, and the cursor moves.
            assert users.window.rows == first_page and users.window.at_start
            before = users.table.cursor_row
            await pilot.press("down")
            await until(pilot, lambda: users.table.cursor_row == before + 1)
        # The lock is gone: the same key loads the last page.
        await pilot.press("G")
        await until(pilot, lambda: loads_idle(app) and users.window.at_end, within=20)
        assert "load cancelled" not in str(users.status.render())

"""Posts, the post viewer, `a` to the author, the request log, help and the palette."""

from __future__ import annotations

from textual.command import CommandPalette
from textual.widgets import DataTable, OptionList

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.screens.form import FormScreen
from stackdeck.tui.screens.help import HelpScreen
from stackdeck.tui.screens.post_view import PostScreen
from stackdeck.tui.screens.request_log import RequestLogScreen
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, until
from tests.tui.seed import seed_users


async def test_enter_opens_the_users_posts_and_enter_shows_a_post(backend: BackendThread) -> None:
    seed_users(backend.url, 3, posts_each=2)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 3)
        await pilot.press("down", "enter")
        await until(pilot, lambda: loads_idle(app) and app.posts.table.has_focus)
        assert app.posts.user is not None and app.posts.user["email"] == "user0001@example.com"
        assert app.posts.table.row_count == 2
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PostScreen))
        body = str(app.screen.query_one("#post-body").render())
        assert "Second line." in body
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PostScreen))


async def test_p_adds_a_post_and_a_jumps_to_its_author(backend: BackendThread) -> None:
    seed_users(backend.url, 150)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 150)
        await pilot.press("G")
        await until(pilot, lambda: loads_idle(app) and app.posts.user is not None)
        author = app.posts.user
        assert author is not None and author["email"] == "user0149@example.com"
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press(*"A title", "tab", *"Some body")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: loads_idle(app) and app.posts.table.row_count == 1)
        app.posts.table.focus()
        await pilot.press("a")
        await until(
            pilot,
            lambda: (
                loads_idle(app)
                and getattr(app.users.current_user(), "id", None) == author["id"]
                and app.users.window.index_of(author["id"]) == app.users.table.cursor_row
            ),
        )
        assert app.users.table.has_focus
        assert getattr(app.users.current_user(), "post_count", None) == 1


async def test_l_shows_the_request_log_with_statements(backend: BackendThread) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 0)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, RequestLogScreen))
        table = app.screen.query_one(DataTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        paths = [str(row[2]) for row in rows]
        assert any(p.startswith("/users?") for p in paths)
        assert any(p.startswith("/users/count") for p in paths)
        users_row = next(row for row in rows if str(row[2]).startswith("/users?"))
        assert str(users_row[3]) == "200"
        assert str(users_row[6]).isdigit()  # statements, from Server-Timing
        status = str(app.query_one("#status").render())
        assert "SQL statement" in status
        await pilot.press("escape")


async def test_help_and_palette_list_the_actions(backend: BackendThread) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app))
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for expected in ("New user", "Migrate", "Downgrade", "Demo batch", "Requests", "Search"):
            assert any(t.startswith(expected) for t in titles), (expected, titles)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        # Chosen from the palette, an action runs just as its key would.
        await until(pilot, lambda: app.transactions.connected)
        await pilot.press("ctrl+p", *"Demo batch")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette))
        options = app.screen.query_one(OptionList)
        await until(pilot, lambda: options.option_count > 0 and options.highlighted is not None)
        await pilot.press("enter")
        await until(pilot, lambda: app.transactions.totals["rolled_back"] == 1)


async def test_a_narrow_terminal_shows_one_pane_at_a_time_as_tabs(backend: BackendThread) -> None:
    seed_users(backend.url, 2, posts_each=1)
    app = make_console(backend)
    async with app.run_test(size=(90, 30)) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 2)
        assert app.query_one("#pane-tabs").display
        assert app.users.display and not app.posts.display
        await pilot.press("enter")
        await until(pilot, lambda: loads_idle(app) and app.posts.display)
        assert not app.users.display
        assert app.posts.table.row_count == 1

"""Posts: `e` edits and `delete` removes; the status line shows each request's cost."""

from __future__ import annotations

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.screens.confirm import ConfirmScreen
from stackdeck.tui.screens.form import FormScreen
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, until
from tests.tui.seed import seed_users


async def test_e_edits_a_post_and_delete_removes_it_after_confirming(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 1, posts_each=2)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 1)
        await pilot.press("enter")
        posts = app.posts
        await until(pilot, lambda: loads_idle(app) and posts.table.has_focus)
        assert posts.table.row_count == 2
        first = posts.current_post()
        assert first is not None
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        title = app.screen.query_one("#field-title")
        title.value = "A better title"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen))
        await until(
            pilot,
            lambda: (
                loads_idle(app) and (posts.current_post() or {}).get("title") == "A better title"
            ),
        )
        assert (posts.current_post() or {}).get("id") == first["id"]
        await pilot.press("delete")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: loads_idle(app) and posts.table.row_count == 1)
        assert (posts.current_post() or {}).get("id") != first["id"]
        # The users pane follows: the author now has one post.
        await until(pilot, lambda: getattr(app.users.current_user(), "post_count", None) == 1)


async def test_the_status_line_shows_the_last_requests_latency_and_statements(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 3)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 3)
        await pilot.press("r")
        await until(pilot, lambda: loads_idle(app))
        status = str(app.query_one("#status").render())
        last = next(
            r
            for r in reversed(app.client.log)
            if not r.path.startswith(("/health", "/transactions/stream"))
        )
        assert last.statements is not None
        noun = "statement" if last.statements == 1 else "statements"
        assert f"{last.method} {last.path} {last.status}" in status
        assert f"{last.statements} SQL {noun}" in status
        assert " ms" in status

"""The migrations pane as a browser: a revision's SQL and source, runs to the revision under
the cursor (u, D), heads and branch points marked."""

from __future__ import annotations

from textual.widgets import TextArea

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.screens.migration import MigrationScreen
from stackdeck.tui.screens.revision import RevisionScreen
from tests.migrations import HEAD
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import confirm_migration, loads_idle, until


def put_cursor_on(app: StackdeckApp, revision: str) -> None:
    table = app.migrations.table
    table.focus()
    table.move_cursor(row=table.get_row_index(revision))


def current(app: StackdeckApp) -> list[str]:
    return list((app.migrations.state or {}).get("current") or [])


async def test_enter_shows_a_revisions_upgrade_and_downgrade_sql_and_its_source(
    backend: BackendThread,
) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.migrations.state is not None)
        put_cursor_on(app, "0002_posts")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RevisionScreen))
        screen = app.screen
        assert isinstance(screen, RevisionScreen)
        await until(pilot, lambda: "loading…" not in screen.text("source"))
        assert "CREATE TABLE posts" in screen.text("upgrade")
        assert "DROP TABLE posts" in screen.text("downgrade")
        assert '"0002_posts"' in screen.text("source")
        assert screen.query_one("#revision-upgrade", TextArea).read_only
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RevisionScreen))


async def test_shift_d_and_u_run_to_the_revision_under_the_cursor(backend: BackendThread) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and current(app) == [HEAD])
        put_cursor_on(app, "0003_transaction_log")
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, MigrationScreen))
        screen = app.screen
        assert isinstance(screen, MigrationScreen)
        assert (screen.direction, screen.source, screen.target) == (
            "downgrade",
            HEAD,
            "0003_transaction_log",
        )
        assert "DROP" in screen.sql.upper()
        outcome = await confirm_migration(pilot, screen)
        assert outcome["ok"] and outcome["to"] == ["0003_transaction_log"], outcome
        await pilot.press("enter")
        await until(pilot, lambda: loads_idle(app) and current(app) == ["0003_transaction_log"])
        put_cursor_on(app, "0005_idempotency_keys")
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, MigrationScreen))
        screen = app.screen
        assert isinstance(screen, MigrationScreen) and screen.target == "0005_idempotency_keys"
        outcome = await confirm_migration(pilot, screen)
        assert outcome["ok"] and outcome["to"] == ["0005_idempotency_keys"], outcome
        await pilot.press("enter")
        await until(pilot, lambda: loads_idle(app) and current(app) == ["0005_idempotency_keys"])
        put_cursor_on(app, "0002_posts")
        await pilot.press("u")  # applied already: nothing runs, it says why
        await pilot.pause()
        assert not isinstance(app.screen, MigrationScreen)


async def test_heads_and_branch_points_are_marked(backend: BackendThread) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.migrations
        await until(pilot, lambda: loads_idle(app) and pane.state is not None)

        def label(revision: str) -> str:
            return str(pane.table.get_cell(revision, "revision"))

        assert label(HEAD) == f"{HEAD} (head)" and label("0002_posts") == "0002_posts"
        # A history with two branches off one revision, merged again.
        entry = {"message": "", "created": None, "applied": False, "is_current": False}
        pane._fill(
            {
                "current": [],
                "heads": ["m"],
                "at_head": False,
                "pending": 4,
                "history": [
                    {**entry, "revision": "a", "down_revision": None, "is_head": False},
                    {**entry, "revision": "b1", "down_revision": "a", "is_head": False},
                    {**entry, "revision": "b2", "down_revision": "a", "is_head": False},
                    {**entry, "revision": "m", "down_revision": ["b1", "b2"], "is_head": True},
                ],
            }
        )
        assert label("a") == "a (branch point)"
        assert label("b1") == "b1"
        assert label("m") == "m (head, merge)"

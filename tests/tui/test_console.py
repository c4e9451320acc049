"""The console against a real backend: keys pressed, widget state asserted."""

from __future__ import annotations

from tests.tui.conftest import SIZE
from tests.tui.helpers import loads_idle, until
from tui.app import StackdeckApp


async def test_n_creates_a_user_that_appears_in_the_table(console: StackdeckApp) -> None:
    async with console.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(console) and console.users.total == 0)
        await pilot.press("n")
        await until(
            pilot, lambda: console.screen.id != "_default" and len(console.screen_stack) > 1
        )
        await pilot.press(*"Ada Lovelace")
        await pilot.press("tab", *"ada@example.com", "enter")
        await until(
            pilot, lambda: any(u["email"] == "ada@example.com" for u in console.users.window.rows)
        )
        assert console.users.total == 1
        assert console.users.table.row_count == 1

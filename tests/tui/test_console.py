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


async def test_new_user_shows_a_committed_row_in_the_transactions_pane(
    console: StackdeckApp,
) -> None:
    async with console.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(console) and console.transactions.connected)
        await pilot.press("n", *"Grace", "tab", *"grace@example.com", "enter")
        tx = console.transactions
        await until(pilot, lambda: tx.table.row_count >= 1)
        row = tx.table.get_row_at(tx.table.row_count - 1)
        assert "create" in str(row[1]).lower() or "user" in str(row[2])
        assert str(row[3]) == "committed"
        assert tx.totals["committed"] >= 1


async def test_b_runs_a_batch_that_rolls_back_and_writes_no_users(console: StackdeckApp) -> None:
    async with console.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(console) and console.transactions.connected)
        before = console.users.total
        await pilot.press("b")
        tx = console.transactions
        await until(pilot, lambda: tx.totals["rolled_back"] >= 1)
        row = tx.table.get_row_at(tx.table.row_count - 1)
        assert str(row[3]).startswith("rolled back")
        await until(pilot, lambda: loads_idle(console))
        assert console.users.total == before == 0
        assert console.users.table.row_count == 0


async def test_themes_switch_and_outcome_colours_follow_the_theme(console: StackdeckApp) -> None:
    async with console.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(console) and console.transactions.connected)
        await pilot.press("b")
        tx = console.transactions
        await until(pilot, lambda: tx.table.row_count == 1)
        dark = console.get_css_variables()["error"]
        console.theme = "gruvbox"
        await pilot.pause()
        light = console.get_css_variables()["error"]
        assert light != dark
        await pilot.press("b")
        await until(pilot, lambda: tx.table.row_count == 2)
        newest = tx.table.get_row_at(1)[3]
        assert light.lower() in str(newest.style).lower()

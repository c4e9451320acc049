"""The console against a real backend: keys pressed, widget state asserted."""

from __future__ import annotations

from stackdeck.tui.app import StackdeckApp
from tests.tui.conftest import SIZE
from tests.tui.helpers import loads_idle, tx_lines, until


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
            pilot, lambda: any(u.email == "ada@example.com" for u in console.users.window.rows)
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
        await until(pilot, lambda: len(tx_lines(console)) >= 1)
        line = tx_lines(console)[-1]
        assert "create" in line.lower() or "user#" in line
        assert "committed" in line
        assert tx.shown[-1]["outcome"] == "committed"
        assert tx.totals["committed"] >= 1


async def test_b_runs_a_batch_that_rolls_back_and_writes_no_users(console: StackdeckApp) -> None:
    async with console.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(console) and console.transactions.connected)
        before = console.users.total
        await pilot.press("b")
        tx = console.transactions
        await until(pilot, lambda: tx.totals["rolled_back"] >= 1)
        await until(pilot, lambda: len(tx_lines(console)) >= 1)
        assert "rolled back" in tx_lines(console)[-1]
        await until(pilot, lambda: loads_idle(console))
        assert console.users.total == before == 0
        assert console.users.table.row_count == 0


async def test_themes_switch_and_outcome_colours_follow_the_theme(console: StackdeckApp) -> None:
    async with console.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(console) and console.transactions.connected)
        await pilot.press("b")
        tx = console.transactions
        await until(pilot, lambda: len(tx_lines(console)) == 1)
        dark = console.get_css_variables()["error"]
        console.theme = "gruvbox"
        await pilot.pause()
        light = console.get_css_variables()["error"]
        assert light != dark
        await pilot.press("b")
        await until(pilot, lambda: len(tx_lines(console)) == 2)
        newest = tx.log_view.lines[1]
        assert any(light.lower() in str(segment.style).lower() for segment in newest)

"""The X-ray in the console, against a real backend: the request log's enter and N+1 mark,
a statement's plan (`e`), a transaction's diff (enter in the transactions pane), `g` to the
changed row, the status bar's `S` and click, and the pane's pause (`space`) and filter (`f`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from textual.widgets import DataTable, Input, OptionList, RadioSet

from stackdeck.backend.launcher import BackendThread
from stackdeck.backend.services.users import UserQueries
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.main import read_config
from stackdeck.tui.screens.request_log import RequestLogScreen
from stackdeck.tui.screens.transaction_filter import TransactionFilterScreen
from stackdeck.tui.screens.xray import PlanScreen, RequestTraceScreen, TransactionScreen
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, screen_text, tx_lines, until
from tests.tui.seed import seed_users


def add_one_by_one_route(backend: BackendThread) -> None:
    """A test-only route that loads six users one statement each: the N+1 shape."""
    server = backend._server
    assert server is not None
    app: FastAPI = server.app

    async def one_by_one(request: Request) -> dict[str, int]:
        queries = UserQueries(request.app.state.reads)
        for user_id in range(1, 7):
            await queries.get(user_id)
        return {"loaded": 6}

    app.add_api_route("/api/v1/test/one-by-one", one_by_one)


def rows_of(table: DataTable[object]) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_enter_in_the_request_log_shows_statements_n_plus_one_marked_and_e_a_plan(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 6)
    add_one_by_one_route(backend)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 6)
        await app.client.request("GET", "/test/one-by-one")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, RequestLogScreen))
        log = app.screen
        table = log.query_one(DataTable)
        flagged = table.get_column_index("x-ray")
        paths = table.get_column_index("path")

        def marks() -> dict[str, str]:
            return {row[paths]: row[flagged] for row in rows_of(table)}

        await until(pilot, lambda: marks().get("/test/one-by-one") == "⚠ N+1 ×6")
        assert all(mark == "" for path, mark in marks().items() if path != "/test/one-by-one")
        row = next(n for n, r in enumerate(rows_of(table)) if r[paths] == "/test/one-by-one")
        table.move_cursor(row=row)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RequestTraceScreen))
        trace = app.screen
        statements = trace.query_one("#xray-statements", DataTable)
        await until(pilot, lambda: statements.row_count == 6)
        text = screen_text(app)
        assert "N PLUS ONE ×6" in text
        assert "SELECT" in text and "users" in text
        assert "$1" in text  # placeholders, never a bound value
        # e on the first statement: its generic plan as a tree of nodes.
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, PlanScreen))
        plan = app.screen
        assert isinstance(plan, PlanScreen)
        await until(pilot, lambda: bool(plan.lines()))
        lines = plan.lines()
        # The top node unindented, its children below it, each with its estimates.
        assert not lines[0].startswith(" ") and "cost=" in lines[0] and "rows=" in lines[0]
        by_id = next(line for line in lines if "Index Scan on users using pk_users" in line)
        assert by_id.startswith("    ") and "index cond: (id = $1)" in by_id, lines
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, RequestLogScreen))


async def test_s_and_a_click_on_the_status_bar_show_the_last_requests_statements(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 3)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 3)
        user = await app.client.get_user(2)
        last = app.last_request
        assert last is not None and last.path == "/users/2" and last.statements
        await pilot.press("S")
        await until(pilot, lambda: isinstance(app.screen, RequestTraceScreen))
        screen = app.screen
        assert isinstance(screen, RequestTraceScreen) and screen.request_id == last.request_id
        table = screen.query_one("#xray-statements", DataTable)
        await until(pilot, lambda: table.row_count == last.statements)
        assert f"GET /api/v1/users/{user['id']}" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, RequestTraceScreen))
        await pilot.click("#status")
        await until(pilot, lambda: isinstance(app.screen, RequestTraceScreen))
        await pilot.press("escape")
        # An id the backend does not keep: a readable line, not a traceback.
        unknown = RequestTraceScreen(app.client, "no-such-request")
        await app.push_screen(unknown)
        state = unknown.query_one("#xray-state")
        await until(pilot, lambda: state.has_class("-error"))
        assert "no-such-request" in str(state.render())


async def open_newest_transaction(pilot: object, app: StackdeckApp) -> TransactionScreen:
    app.transactions.log_view.focus()
    await pilot.press("end", "enter")  # type: ignore[attr-defined]
    await until(pilot, lambda: isinstance(app.screen, TransactionScreen))  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, TransactionScreen)
    await until(pilot, lambda: screen.detail is not None)  # type: ignore[arg-type]
    return screen


async def test_enter_on_a_transaction_shows_the_update_as_a_diff_and_g_goes_to_the_row(
    backend: BackendThread,
) -> None:
    [user_id] = seed_users(backend.url, 1, posts_each=1)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.transactions.connected)
        await app.client.update_user(user_id, name="Ada Renamed")
        await until(pilot, lambda: "users.update" in (tx_lines(app) or [""])[-1])
        screen = await open_newest_transaction(pilot, app)
        assert screen.detail is not None and screen.detail.operation == "users.update"
        [change] = screen.detail.changes or []
        assert (change.table, change.id, change.op) == ("users", user_id, "update")
        text = screen_text(app)
        assert "UPDATE users #" in text
        assert "- name: 'User 0000'" in text and "+ name: 'Ada Renamed'" in text
        assert "UPDATE users SET" in text  # the statement it ran
        await pilot.press("g")
        await until(
            pilot,
            lambda: (
                len(app.screen_stack) == 1
                and loads_idle(app)
                and getattr(app.users.current_user(), "id", None) == user_id
            ),
        )
        assert app.users.table.has_focus
        # A post's change: g shows it among its author's posts.
        post = await app.client.create_post(user_id, "Fresh", "post body")
        await until(pilot, lambda: "posts.create" in (tx_lines(app) or [""])[-1])
        screen = await open_newest_transaction(pilot, app)
        changes = screen.detail.changes or []  # type: ignore[union-attr]
        # The post, and its author's maintained post_count: the trigger's row is there too.
        ops = sorted((c.table, c.op) for c in changes)
        assert ops == [("posts", "insert"), ("users", "update")], ops
        text = screen_text(app)
        assert "+ title: 'Fresh'" in text and "+ post_count: 2" in text
        at = next(n for n, c in enumerate(changes) if c.table == "posts")
        await pilot.press(*["down"] * at, "g")
        await until(
            pilot,
            lambda: (
                len(app.screen_stack) == 1
                and loads_idle(app)
                and (app.posts.current_post() or {}).get("id") == post["id"]
            ),
        )
        assert app.posts.table.has_focus


async def test_a_rolled_back_batch_shows_its_statements_and_no_change(
    console: StackdeckApp,
) -> None:
    async with console.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(console) and console.transactions.connected)
        await pilot.press("b")
        await until(pilot, lambda: console.transactions.totals["rolled_back"] == 1)
        await until(pilot, lambda: "rolled back" in (tx_lines(console) or [""])[-1])
        screen = await open_newest_transaction(pilot, console)
        assert screen.detail is not None and screen.detail.outcome == "rolled_back"
        assert screen.detail.statements and screen.detail.changes == []
        assert screen.query_one("#xray-changes", OptionList).option_count == 0
        assert "no row changed (rolled back)" in screen_text(console)


async def test_space_pauses_with_a_waiting_count_and_resumes_with_every_event(
    console: StackdeckApp,
) -> None:
    async with console.run_test(size=SIZE) as pilot:
        tx = console.transactions
        await until(pilot, lambda: loads_idle(console) and tx.connected)
        tx.log_view.focus()
        await pilot.press("space")
        assert tx.paused
        emails = [f"paused{n}@example.com" for n in range(3)]
        for n, email in enumerate(emails):
            await console.client.create_user(f"Paused {n}", email)
        await until(pilot, lambda: tx.totals["committed"] == 3)
        await until(pilot, lambda: "3 waiting" in str(tx.border_title))
        assert tx_lines(console) == []  # nothing drawn while paused
        await pilot.press("space")
        assert not tx.paused and "waiting" not in str(tx.border_title)
        await until(pilot, lambda: len(tx_lines(console)) == 3)
        assert all("users.create" in line and "committed" in line for line in tx_lines(console))


async def test_f_filters_by_operation_and_outcome_and_escape_clears(
    console: StackdeckApp,
) -> None:
    async with console.run_test(size=SIZE) as pilot:
        tx = console.transactions
        await until(pilot, lambda: loads_idle(console) and tx.connected)
        user = await console.client.create_user("Ada", "ada@example.com")
        await console.client.update_user(int(user["id"]), name="Ada L")
        await pilot.press("b")  # a rolled-back users.batch
        await until(pilot, lambda: len(tx_lines(console)) == 3)
        tx.log_view.focus()
        await pilot.press("f")
        await until(pilot, lambda: isinstance(console.screen, TransactionFilterScreen))
        await pilot.press(*"users.update", "enter")
        await until(pilot, lambda: len(tx_lines(console)) == 1)
        assert "users.update" in tx_lines(console)[0]
        assert "filter: users.update" in str(tx.border_title)
        # By outcome: rolled back only.
        await pilot.press("f")
        await until(pilot, lambda: isinstance(console.screen, TransactionFilterScreen))
        console.screen.query_one(Input).value = ""
        console.screen.query_one(RadioSet).focus()
        await pilot.press("down", "down", "enter", "ctrl+s")
        await until(
            pilot, lambda: len(tx_lines(console)) == 1 and "users.batch" in tx_lines(console)[0]
        )
        assert "filter: rolled back" in str(tx.border_title)
        # A new event passes through the filter as it arrives.
        await console.client.create_user("Grace", "grace@example.com")
        await until(pilot, lambda: len(tx.shown) == 4)  # arrived and drawn (or not)
        assert len(tx_lines(console)) == 1
        # escape in the filter screen clears it: every outcome again.
        await pilot.press("f")
        await until(pilot, lambda: isinstance(console.screen, TransactionFilterScreen))
        await pilot.press("escape")
        await until(pilot, lambda: len(tx_lines(console)) == 4)
        assert "filter" not in str(tx.border_title)


async def test_the_config_files_keymap_moves_the_new_keys(
    backend: BackendThread, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\npause_transactions = "z"\njump_to_row = "o"\n')
    config = read_config(path)  # the ids are known: the file is accepted
    app = make_console(backend, config=config)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.transactions.connected)
        app.transactions.log_view.focus()
        await pilot.press("z")
        assert app.transactions.paused
        await pilot.press("space")  # its old key does nothing now
        assert app.transactions.paused


async def test_a_filter_changed_while_paused_neither_loses_nor_repeats_an_event(
    console: StackdeckApp,
) -> None:
    async with console.run_test(size=SIZE) as pilot:
        tx = console.transactions
        await until(pilot, lambda: loads_idle(console) and tx.connected)
        user = await console.client.create_user("Ada", "ada@example.com")
        await console.client.update_user(int(user["id"]), name="Ada L")
        await until(pilot, lambda: len(tx_lines(console)) == 2)
        tx.log_view.focus()
        await pilot.press("space")
        await console.client.create_user("Grace", "grace@example.com")
        await console.client.update_user(int(user["id"]), name="Ada K")
        await until(pilot, lambda: "2 waiting" in str(tx.border_title))
        await pilot.press("f")
        await until(pilot, lambda: isinstance(console.screen, TransactionFilterScreen))
        await pilot.press(*"users.create", "enter")
        await until(pilot, lambda: "1 waiting" in str(tx.border_title))
        assert len(tx_lines(console)) == 1  # Ada's create; Grace's still waits
        await pilot.press("space")
        await until(pilot, lambda: len(tx_lines(console)) == 2)
        ids = [int(item["id"]) for item in tx.lines]
        assert len(set(ids)) == 2 and all("users.create" in line for line in tx_lines(console))


async def test_a_delete_shows_whole_rows_cascade_included_and_g_says_it_is_gone(
    backend: BackendThread,
) -> None:
    [user_id] = seed_users(backend.url, 1, posts_each=2)
    app = make_console(backend)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.transactions.connected)
        await app.client.delete_user(user_id)
        await until(pilot, lambda: "users.delete" in (tx_lines(app) or [""])[-1])
        screen = await open_newest_transaction(pilot, app)
        changes = screen.detail.changes or []  # type: ignore[union-attr]
        assert sorted((c.table, c.op) for c in changes) == [
            ("posts", "delete"),
            ("posts", "delete"),
            ("users", "delete"),
        ]
        assert all(c.after is None for c in changes)
        text = screen_text(app)
        assert "DELETE users #" in text and "- email: 'user0000@example.com'" in text
        assert "- title: 'Post 0 of user 0'" in text and "+ " not in text.split("changes")[-1]
        await pilot.press("g")
        await until(pilot, lambda: "was deleted by" in screen_text(app))
        assert isinstance(app.screen, TransactionScreen)  # nothing to go to: it stays

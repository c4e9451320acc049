"""Browsing users like a database console: sort by a column, filters, export, copy, the value
viewer; every key against a real backend."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from textual.widgets import Input, ProgressBar, TextArea, Tree

from stackdeck.backend.launcher import BackendThread
from stackdeck.backend.services.users import UserQueries
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.screens.export import ExportScreen
from stackdeck.tui.screens.filter import FilterScreen
from stackdeck.tui.screens.post_view import PostScreen
from stackdeck.tui.screens.value_view import ValueScreen
from stackdeck.tui.widgets.users_pane import PAGE_SIZE, WINDOW
from tests.helpers import eventually
from tests.migrations import connection
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, until
from tests.tui.seed import seed_users


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def written(path: Path) -> bytes:
    return path.read_bytes()


def header(app: StackdeckApp, key: str) -> str:
    return str(app.users.table.columns[key].label)  # type: ignore[index]


async def test_s_sorts_by_the_column_under_the_cursor_and_pages_in_that_order(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 250)
    emails = sorted(f"user{n:04d}@example.com" for n in range(250))
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 250)
        await pilot.press("right", "right", "s")  # the email column: ascending
        await until(pilot, lambda: loads_idle(app) and users.sort == ("email", False))
        assert "▲" in header(app, "email") and "sort email ▲" in str(users.border_title)
        assert [u.email for u in users.window.rows] == emails[:PAGE_SIZE]
        await pilot.press("s")  # descending
        await until(pilot, lambda: loads_idle(app) and users.sort == ("email", True))
        assert "▼" in header(app, "email") and "▲" not in header(app, "email")
        descending = emails[::-1]
        seen: list[str] = []
        while True:  # down to the end, every row once, in order
            rows = [u.email for u in users.window.rows]
            seen.extend(e for e in rows if e not in seen)
            if users.window.at_end and users.table.cursor_row == len(users.window) - 1:
                break
            await pilot.press("pagedown")
            await until(pilot, lambda: loads_idle(app))
        assert seen == descending
        assert any("sort=-email" in r.path and "cursor=" in r.path for r in app.client.log)
        await pilot.press("g")
        await until(pilot, lambda: loads_idle(app) and users.window.at_start)
        assert users.current_user().email == descending[0]  # type: ignore[union-attr]
        await pilot.press("G")  # the ascending order's first page, turned round
        await until(pilot, lambda: loads_idle(app) and users.window.at_end)
        assert users.current_user().email == descending[-1]  # type: ignore[union-attr]
        assert len(users.window) == PAGE_SIZE
        for _ in range(12):  # back up from the end: pages before, by backwards cursors
            await pilot.press("pageup")
            await until(pilot, lambda: loads_idle(app))
        assert users.window.at_start and users.window.rows[0].email == descending[0]
        await pilot.press("slash", *"user01", "enter")  # search keeps the sort
        await until(pilot, lambda: loads_idle(app) and users.total == 100)
        assert [u.email for u in users.window.rows] == [e for e in descending if "user01" in e]
        await pilot.press("s")  # off: id order again, the search still on
        await until(pilot, lambda: loads_idle(app) and users.sort is None)
        assert str(users.border_title) == "Users" and "▼" not in header(app, "email")
        assert users.window.rows[0].email == "user0100@example.com" and users.total == 100


async def test_paging_far_down_and_back_keeps_no_cursor_per_page(backend: BackendThread) -> None:
    seed_users(backend.url, 800)
    names = sorted((f"User {n:04d}" for n in range(800)), reverse=True)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 800)
        await pilot.press("right", "s", "s")  # name, descending: pages by opaque cursors
        await until(pilot, lambda: loads_idle(app) and users.sort == ("name", True))
        most_pages = WINDOW // PAGE_SIZE + 1
        held: set[int] = set()

        def check_window() -> list[str]:
            window = users.window
            # What the pane holds is the pages on screen, each with its two cursors:
            # the same few whatever the depth.
            assert len(window.pages) <= most_pages
            held.add(len(window.pages))
            rows = [u.name for u in window.rows]
            start = names.index(rows[0])
            assert rows == names[start : start + len(rows)]  # in order, none twice or missed
            return rows

        seen = check_window()
        while not (users.window.at_end and users.table.cursor_row == len(users.window) - 1):
            await pilot.press("ctrl+end")
            await until(pilot, lambda: loads_idle(app))
            seen.extend(n for n in check_window() if n not in seen)
        assert seen == names
        assert users.window.pages[0].rows[0].name != names[0]  # the top fell off long ago
        back = check_window()[::-1]
        while not (users.window.at_start and users.table.cursor_row == 0):
            await pilot.press("ctrl+home")
            await until(pilot, lambda: loads_idle(app))
            back.extend(n for n in reversed(check_window()) if n not in back)
        assert back == names[::-1]
        assert users.current_user().name == names[0]  # type: ignore[union-attr]
        assert max(held) >= WINDOW // PAGE_SIZE  # the window filled, and pages fell off
        assert any("sort=-name" in r.path and "cursor=" in r.path for r in app.client.log)


async def test_a_header_click_sorts_by_that_column(backend: BackendThread) -> None:
    seed_users(backend.url, 3, posts_each=1)
    seed_users(backend.url, 2, posts_each=3, prefix="busy")
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 5)
        table = users.table
        columns = table.ordered_columns
        index = [str(c.key.value) for c in columns].index("post_count")
        x = sum(c.get_render_width(table) for c in columns[:index]) + 1
        await pilot.click("#users-table", offset=(x, 0))
        await until(pilot, lambda: loads_idle(app) and users.sort == ("post_count", False))
        assert [u.post_count for u in users.window.rows] == [1, 1, 1, 3, 3]
        await pilot.click("#users-table", offset=(2, 0))  # the id header: id ascending
        await until(pilot, lambda: loads_idle(app) and users.sort == ("id", False))
        assert "▲" in header(app, "id")


async def test_f_filters_with_the_apis_errors_beside_the_field_and_escape_clears(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 20)
    seed_users(backend.url, 3, posts_each=2, prefix="busy")
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 23)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        form = app.screen
        form.query_one("#field-posts_min", Input).value = "lots"
        form.query_one("#field-created_from", Input).value = "yesterday"
        form.query_one("#field-name", Input).focus()
        await pilot.press("enter")
        error = form.query_one("#error-posts_min")
        await until(pilot, lambda: bool(str(error.render())))
        assert str(form.query_one("#error-created_from").render())
        assert isinstance(app.screen, FilterScreen)  # nothing applied
        form.query_one("#field-posts_min", Input).value = "2"
        form.query_one("#field-created_from", Input).value = ""
        form.query_one("#field-email", Input).value = "BUSY"
        await pilot.press("enter")
        await until(pilot, lambda: loads_idle(app) and users.total == 3)
        assert not isinstance(app.screen, FilterScreen)
        assert users.filters == {"email": "BUSY", "posts_min": "2"}
        assert "email~BUSY" in str(users.border_title)
        assert "posts≥2" in str(users.border_title)
        assert {u.email for u in users.window.rows} == {
            f"busy{n:04d}@example.com" for n in range(3)
        }
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        assert app.screen.query_one("#field-email", Input).value == "BUSY"
        await pilot.click("#cancel")  # Cancel: the filters stay
        await until(pilot, lambda: not isinstance(app.screen, FilterScreen))
        assert users.filters == {"email": "BUSY", "posts_min": "2"}
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        await pilot.press("escape")
        await until(pilot, lambda: loads_idle(app) and users.total == 23)
        assert users.filters == {} and str(users.border_title) == "Users"


async def test_y_copies_the_cell_and_shift_y_the_row(backend: BackendThread) -> None:
    seed_users(backend.url, 2)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 2)
        await pilot.press("down", "right", "right", "y")
        assert app.clipboard == "user0001@example.com"
        await pilot.press("Y")
        user = users.current_user()
        assert user is not None
        assert app.clipboard == "\t".join(
            [str(user.id), "User 0001", "user0001@example.com", "0", user.created_at]
        )


async def test_v_shows_json_as_a_foldable_tree_with_search(backend: BackendThread) -> None:
    name = '{"kind": "note", "tags": ["a", {"deep": "needle here"}]}'
    async with httpx.AsyncClient(base_url=backend.url) as http:
        response = await http.post("/users", json={"name": name, "email": "j@example.com"})
    assert response.status_code == 201
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 1)
        await pilot.press("right", "v")
        await until(pilot, lambda: isinstance(app.screen, ValueScreen))
        tree = app.screen.query_one(Tree)
        assert str(tree.root.children[0].label) == 'kind: "note"'
        await pilot.press("slash", *"needle")
        await until(
            pilot, lambda: "needle" in str(tree.cursor_node.label if tree.cursor_node else "")
        )
        tags = tree.root.children[1]
        tags.collapse()  # folded; the next search opens it again
        await pilot.press("enter")
        await until(pilot, lambda: tags.is_expanded)
        await pilot.press("escape", "escape")
        await until(pilot, lambda: not isinstance(app.screen, ValueScreen))
        await pilot.press("right", "v")  # not JSON: the text, whole
        await until(pilot, lambda: isinstance(app.screen, ValueScreen))
        assert app.screen.query_one(TextArea).text == "j@example.com"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ValueScreen))
        assert users.table.has_focus


async def test_enter_on_a_cell_cut_short_shows_its_whole_value_else_keeps_its_meaning(
    backend: BackendThread,
) -> None:
    email = "a.very.long.address.for.one.person@example-with-a-long-domain.org"
    body = "The whole story, " * 12
    async with httpx.AsyncClient(base_url=backend.url) as http:
        user = (await http.post("/users", json={"name": "Ada", "email": email})).json()
        for title in ("Short", "A title much longer than the forty characters a cell shows"):
            post = {"user_id": user["id"], "title": title, "body": body}
            assert (await http.post("/posts", json=post)).status_code == 201
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 1)
        cells = users.table.get_row_at(0)
        assert str(cells[2]).endswith("…") and len(str(cells[2])) == 40
        await pilot.press("right", "right", "enter")  # the email, cut short: the viewer
        await until(pilot, lambda: isinstance(app.screen, ValueScreen))
        assert app.screen.query_one(TextArea).text == email
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ValueScreen))
        await pilot.press("left", "enter")  # the name, whole on screen: the user's posts
        posts = app.posts
        await until(pilot, lambda: loads_idle(app) and posts.table.has_focus)
        assert posts.table.row_count == 2
        await pilot.press("enter")  # the id: the whole post, as enter always did
        await until(pilot, lambda: isinstance(app.screen, PostScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PostScreen))
        await pilot.press("right", "right", "right", "enter")  # the body, cut: its text whole
        await until(pilot, lambda: isinstance(app.screen, ValueScreen))
        assert app.screen.query_one(TextArea).text == body
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ValueScreen))
        await pilot.press("left", "left", "enter")  # "Short": not cut, the whole post
        await until(pilot, lambda: isinstance(app.screen, PostScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PostScreen))
        await pilot.press("down", "v")  # `v` here too: the long title
        await until(pilot, lambda: isinstance(app.screen, ValueScreen))
        assert app.screen.query_one(TextArea).text == post["title"]


async def _export(pilot: object, app: StackdeckApp, path: Path) -> ExportScreen:
    await pilot.press("x")  # type: ignore[attr-defined]
    await until(pilot, lambda: isinstance(app.screen, ExportScreen))  # type: ignore[arg-type]
    screen = app.screen
    assert isinstance(screen, ExportScreen)
    field = screen.query_one("#export-path", Input)
    assert field.value.startswith(str(Path.cwd() / "users-")) and field.value.endswith(".csv")
    field.value = str(path)
    await pilot.press("enter")  # type: ignore[attr-defined]
    return screen


@pytest.mark.parametrize("suffix", ["csv", "ndjson", "json"])
async def test_x_exports_the_view_sorted_filtered_and_searched(
    backend: BackendThread, tmp_path: Path, suffix: str
) -> None:
    seed_users(backend.url, 30)
    seed_users(backend.url, 12, posts_each=1, prefix="busy")
    app = make_console(backend)
    path = tmp_path / f"busy.{suffix}"
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 42)
        users.filters = {"posts_min": "1"}
        users.query_text = "busy001"
        users.sort = ("email", True)
        users.load("first")
        await until(pilot, lambda: loads_idle(app) and users.total == 2)
        screen = await _export(pilot, app, path)
        await until(pilot, lambda: screen.phase == "done")
        bar = screen.query_one(ProgressBar)
        assert bar.total == 2 and bar.progress == 2
        assert "2 rows" in str(screen.query_one("#export-rate").render())
    async with httpx.AsyncClient(base_url=backend.url) as http:
        answer = await http.get(
            "/users/export",
            params={"format": suffix, "sort": "-email", "q": "busy001", "posts_min": 1},
        )
    expected = answer.content
    assert written(path) == expected
    assert b"busy0011" in expected and b"busy0010" in expected and b"user" not in expected


async def test_escape_cancels_an_export_and_removes_the_partial_file(
    backend: BackendThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = backend.settings.database_url_value() or ""
    async with connection(url) as conn:
        await conn.execute(
            "INSERT INTO users (name, email) SELECT 'Bulk ' || n, 'bulk' || n || '@example.com'"
            " FROM generate_series(1, 50000) AS n"
        )
    monkeypatch.setattr(UserQueries, "export_chunk_rows", 10)  # thousands of statements
    app = make_console(backend)
    path = tmp_path / "all.csv"
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 50000)
        screen = await _export(pilot, app, path)
        await until(pilot, lambda: path.exists() and path.stat().st_size > 0)
        async with connection(url) as holder, holder.transaction():
            # The export's next chunk waits for this lock: it stays half-written.
            await holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")

            async def a_read_waits() -> bool:
                return bool(
                    await holder.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted"
                        " AND relation = 'users'::regclass"
                    )
                )

            await eventually(a_read_waits)
            assert screen.phase == "running" and path.exists()
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, ExportScreen))
            await until(pilot, lambda: not path.exists())
    assert files(tmp_path) == []


async def test_an_export_never_overwrites_a_file(backend: BackendThread, tmp_path: Path) -> None:
    seed_users(backend.url, 1)
    path = tmp_path / "mine.csv"
    path.write_bytes(b"keep me")
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 1)
        screen = await _export(pilot, app, path)
        await until(pilot, lambda: "exists" in str(screen.query_one("#export-error").render()))
        screen.query_one("#export-path", Input).value = str(tmp_path / "x.txt")
        await pilot.press("enter")
        await until(pilot, lambda: ".csv" in str(screen.query_one("#export-error").render()))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ExportScreen))
    assert written(path) == b"keep me" and files(tmp_path) == ["mine.csv"]

"""The users pane: a keyset-paged table over a bounded window of rows, search, user forms."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import var
from textual.widgets import DataTable, Input, Static

from stackdeck.tui.client import ApiClient, ApiError
from stackdeck.tui.paging import KeysetWindow
from stackdeck.tui.screens.confirm import ConfirmScreen
from stackdeck.tui.screens.form import FormField, FormScreen
from stackdeck.tui.widgets.cells import cell, when
from stackdeck.tui.widgets.pane import Pane

PAGE_SIZE = 100
WINDOW = 500
NEAR = 10  # rows from either end of the window at which the next page is fetched
SEARCH_DEBOUNCE = 0.25


class UsersPane(Pane):
    BINDINGS = [
        Binding("slash", "search", "Search", id="search"),
        Binding("n", "new_user", "New user", id="new_user"),
        Binding("e", "edit_user", "Edit user", id="edit_user"),
        Binding("delete", "delete_user", "Delete user", id="delete_user"),
        Binding("g", "first", "First", show=False, id="first"),
        Binding("G", "last", "Last", show=False, id="last"),
        Binding("escape", "cancel", "Cancel load", show=False, id="cancel_load"),
        # vim only: the next and previous row matching the search.
        Binding("n", "next_match", "Next match", show=False, id="next_match"),
        Binding("N", "previous_match", "Previous match", show=False, id="previous_match"),
    ]
    WRITE_ACTIONS = frozenset({"new_user", "edit_user", "delete_user"})
    VIM_ACTIONS = frozenset({"next_match", "previous_match"})

    vim: var[bool] = var(False, bindings=True)  # the app's `vim = true`: g is gg's

    class Highlighted(Message):
        """The cursor is on this user (None: no user)."""

        def __init__(self, user: dict[str, Any] | None) -> None:
            super().__init__()
            self.user = user

    class OpenPosts(Message):
        """`enter` on a user: show and focus their posts."""

        def __init__(self, user_id: int) -> None:
            super().__init__()
            self.user_id = user_id

    class Changed(Message):
        """A write went through; other panes may want to refresh."""

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client, id="users", title="Users")
        self.window = KeysetWindow(page_size=PAGE_SIZE, capacity=WINDOW)
        self.query_text = ""
        self.total: int | None = None
        self.loading = False
        self.cancelled = False  # the last load was cancelled with escape; the status says so
        self._highlighted_id: int | None = None
        self.status = Static("", id="users-status", classes="pane-status")

    def compose(self) -> ComposeResult:
        search = Input(placeholder="search name or email…", id="users-search")
        search.display = False
        yield search
        yield self.message
        table: DataTable[Any] = DataTable(id="users-table", cursor_type="row", zebra_stripes=True)
        table.add_column("id", key="id")
        table.add_column("name", key="name")
        table.add_column("email", key="email")
        table.add_column("posts", key="posts")
        table.add_column("created", key="created")
        yield table
        yield self.status

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#users-table", DataTable)

    # -- loading --------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """Reload the rows on screen (from the window's first id) and the count."""
        if self.window.rows and not self.window.at_start:
            self.load("from", self.window.first_id)
        else:
            self.load("first")

    @work(exclusive=True, group="users-load")
    async def load(
        self, mode: str, anchor: int | None = None, debounce: float = 0.0, recount: bool = True
    ) -> None:
        """Fetch a page (mode: first, last, from, down, up); recount=False keeps a known total."""
        if debounce:
            await asyncio.sleep(debounce)
        client, window, q = self.client, self.window, self.query_text or None
        self.loading = True
        self.cancelled = False
        self._show_status()
        keep_id = self._highlighted_id
        cursor: int | None = None
        filled = False
        try:
            if mode == "first":
                page = await client.list_users(limit=PAGE_SIZE, q=q)
                window.reset_first(page["items"], page["next"])
                cursor = 0
            elif mode == "last":
                page = await client.list_users(limit=PAGE_SIZE, q=q, order="desc")
                window.reset_last(page["items"], page["next"])
                cursor = len(window) - 1
            elif mode == "from" and anchor is not None:
                page = await client.list_users(limit=PAGE_SIZE, q=q, after=anchor - 1)
                window.reset_from(page["items"], page["next"])
                if anchor <= 1:
                    window.at_start = True
            elif mode == "down" and window.last_id is not None:
                page = await client.list_users(limit=PAGE_SIZE, q=q, after=window.last_id)
                dropped = window.extend_down(page["items"], page["next"])
                cursor = max(0, self.table.cursor_row - dropped)
            elif mode == "up" and window.first_id is not None:
                page = await client.list_users(
                    limit=PAGE_SIZE, q=q, after=window.first_id, order="desc"
                )
                added = window.extend_up(page["items"], page["next"])
                cursor = self.table.cursor_row + added
            if cursor is None:
                cursor = window.index_of(keep_id) if keep_id is not None else None
            self.show_message(None)
            if (recount and mode in ("first", "last", "from")) or self.total is None:
                # The rows first: counting a big table can take longer than the page did.
                self._fill(cursor or 0)
                filled = True
                self.total = await client.count_users(q)
        except ApiError as error:
            self.show_error(error)
            if error.schema_not_ready:
                window.reset_first([], None)
                self.total = None
                self._fill(0)
            return
        finally:
            self.loading = False
            if self.is_attached:  # not while the app quits: its screens are gone
                self._show_status()
        if not filled:
            self._fill(cursor or 0)

    def _fill(self, cursor: int) -> None:
        table = self.table
        table.clear()
        table.add_rows(
            [
                (
                    cell(u["id"]),
                    cell(u["name"]),
                    cell(u["email"]),
                    cell(u.get("post_count", "")),
                    cell(when(u.get("created_at"))),
                )
                for u in self.window.rows
            ]
        )
        if self.window.rows:
            table.move_cursor(row=min(cursor, len(self.window) - 1), animate=False)
        else:
            self._announce(None)
        self._show_status()

    def _show_status(self) -> None:
        window = self.window
        parts = []
        if window.rows:
            parts.append(f"ids {window.first_id}–{window.last_id}")
        if self.total is not None:
            parts.append(
                f"{self.total:,} users"
                + (f" matching {self.query_text!r}" if self.query_text else "")
            )
        if self.loading:
            parts.append("loading… (esc cancels)")
        elif self.cancelled:
            parts.append("load cancelled")
        self.status.update(" · ".join(parts))

    def current_user(self) -> dict[str, Any] | None:
        row = self.table.cursor_row
        if 0 <= row < len(self.window):
            return self.window.rows[row]
        return None

    def _announce(self, user: dict[str, Any] | None) -> None:
        new_id = int(user["id"]) if user else None
        if new_id != self._highlighted_id:
            self._highlighted_id = new_id
            self.post_message(self.Highlighted(user))

    @on(DataTable.RowHighlighted, "#users-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = event.cursor_row
        window = self.window
        if row != self.table.cursor_row or not (0 <= row < len(window)):
            return  # a stale event from before the table was refilled
        self._announce(window.rows[row])
        if self.loading:
            return
        if row >= len(window) - NEAR and not window.at_end:
            self.load("down")
        elif row < NEAR and not window.at_start:
            self.load("up")

    @on(DataTable.RowSelected, "#users-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        user = self.current_user()
        if user is not None:
            self.post_message(self.OpenPosts(int(user["id"])))

    def reveal(self, user_id: int) -> None:
        """Show the window starting at this user, cursor on it (from a post's `a`)."""
        self.query_text = ""
        search = self.query_one("#users-search", Input)
        search.value = ""
        search.display = False
        self._highlighted_id = user_id
        self.load("from", user_id)
        self.table.focus()

    # -- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.VIM_ACTIONS:
            return self.vim
        if action == "first" and self.vim:
            return False  # one g arms the app's gg
        return super().check_action(action, parameters)

    # n and N: the search filters the list on the server, so every row shown matches; they
    # step to the next or previous one, paging as j and k do, and wrap at either end
    # (vim's wrapscan) by loading the other end of the matches.
    def action_next_match(self) -> None:
        self._step_match(+1)

    def action_previous_match(self) -> None:
        self._step_match(-1)

    def _step_match(self, step: int) -> None:
        if not self.query_text:
            self.notify("no search: press / first", timeout=2)
            return
        window, row = self.window, self.table.cursor_row
        target = row + step
        if 0 <= target < len(window):
            self.table.move_cursor(row=target)
        elif self.loading:
            return  # a page is on its way: the cursor moves on once it is in
        elif step > 0 and window.at_end:
            self.notify("search hit BOTTOM, continuing at TOP", timeout=2)
            self.load("first", recount=False)
        elif step < 0 and window.at_start:
            self.notify("search hit TOP, continuing at BOTTOM", timeout=2)
            self.load("last", recount=False)
        else:
            self.load("down" if step > 0 else "up")

    # g and G show other rows of the same list: its total is known (counting a million rows
    # would cost more than the page itself); writes and `r` reset or refresh it.
    def action_first(self) -> None:
        self.load("first", recount=False)

    def action_last(self) -> None:
        self.load("last", recount=False)

    def action_cancel(self) -> None:
        search = self.query_one("#users-search", Input)
        if search.has_focus:
            search.value = ""
            search.display = False
            self.table.focus()
            return
        if not self.loading:
            return
        self.workers.cancel_group(self, "users-load")
        # The rows on screen stay as they were: the window only changes when a page arrives.
        self.loading = False
        self.cancelled = True
        self._show_status()

    def action_search(self) -> None:
        search = self.query_one("#users-search", Input)
        search.display = True
        search.focus()

    @on(Input.Changed, "#users-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value.strip()
        self.load("first", debounce=SEARCH_DEBOUNCE)

    @on(Input.Submitted, "#users-search")
    def _search_submitted(self) -> None:
        self.table.focus()

    def action_new_user(self) -> None:
        async def create(values: dict[str, str]) -> Any:
            return await self.client.create_user(values["name"].strip(), values["email"].strip())

        fields = [FormField("name", "Name"), FormField("email", "Email")]
        self.app.push_screen(FormScreen("New user", fields, create), self._written)

    def action_edit_user(self) -> None:
        user = self.current_user()
        if user is None:
            return
        user_id = int(user["id"])

        async def save(values: dict[str, str]) -> Any:
            changes = {k: v.strip() for k, v in values.items() if v.strip() != user[k]}
            if not changes:
                return user
            return await self.client.update_user(user_id, **changes)

        fields = [
            FormField("name", "Name", user["name"]),
            FormField("email", "Email", user["email"]),
        ]
        self.app.push_screen(FormScreen(f"Edit user #{user_id}", fields, save), self._written)

    def _written(self, result: Any) -> None:
        if result is None:
            return
        if isinstance(result, dict) and "id" in result:
            self._highlighted_id = int(result["id"])
            self.notify(f"saved user #{result['id']} {result.get('name', '')}")
        self.total = None
        self.refresh_data()
        self.post_message(self.Changed())

    @work(group="users-write")
    async def action_delete_user(self) -> None:
        user = self.current_user()
        if user is None:
            return
        sure = await self.app.push_screen_wait(
            ConfirmScreen(
                f"Delete user #{user['id']} {user['name']}?",
                f"{user['email']} and their {user.get('post_count', 0)} posts go with them.",
                yes="Delete",
            )
        )
        if not sure:
            return
        try:
            await self.client.delete_user(int(user["id"]))
        except ApiError as error:
            self.notify(error.message, title="Delete failed", severity="error")
            return
        self.notify(f"deleted user #{user['id']}")
        self.total = None
        self.refresh_data()
        self.post_message(self.Changed())

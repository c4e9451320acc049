"""The users pane: a keyset-paged table over a bounded window of rows, in any sort and under
filters; search, user forms, export, copy and the value viewer."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.reactive import var
from textual.widgets import DataTable, Input, Static

from stackdeck.tui.client import ApiClient, ApiError, User, UserView
from stackdeck.tui.paging import Fetch, KeysetWindow, Page, page_of
from stackdeck.tui.screens.confirm import ConfirmScreen
from stackdeck.tui.screens.export import ExportScreen
from stackdeck.tui.screens.filter import FilterScreen, describe_filters
from stackdeck.tui.screens.form import FormField, FormScreen
from stackdeck.tui.screens.value_view import ValueScreen
from stackdeck.tui.widgets.cells import cell, shown, truncated, when
from stackdeck.tui.widgets.pane import Pane

PAGE_SIZE = 100
WINDOW = 500
NEAR = 10  # rows from either end of the window at which the next page is fetched
SEARCH_DEBOUNCE = 0.25
# The table's columns: the User field each shows, and its header.
COLUMNS = {
    "id": "id",
    "name": "name",
    "email": "email",
    "post_count": "posts",
    "created_at": "created",
}
ARROWS = {False: "▲", True: "▼"}

Sort = tuple[str, bool]  # (column, descending)


class UsersPane(Pane):
    BINDINGS = [
        Binding("slash", "search", "Search", id="search"),
        Binding("n", "new_user", "New user", id="new_user"),
        Binding("e", "edit_user", "Edit user", id="edit_user"),
        Binding("delete", "delete_user", "Delete user", id="delete_user"),
        Binding("g", "first", "First", show=False, id="first"),
        Binding("G", "last", "Last", show=False, id="last"),
        Binding("escape", "cancel", "Cancel load", show=False, id="cancel_load"),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("f", "filter", "Filter", id="filter"),
        Binding("x", "export", "Export", id="export"),
        Binding("y", "copy_cell", "Copy cell", show=False, id="copy_cell"),
        Binding("Y", "copy_row", "Copy row", show=False, id="copy_row"),
        Binding("v", "view_value", "View value", show=False, id="view_value"),
        # vim only: the next and previous row matching the search.
        Binding("n", "next_match", "Next match", show=False, id="next_match"),
        Binding("N", "previous_match", "Previous match", show=False, id="previous_match"),
    ]
    WRITE_ACTIONS = frozenset({"new_user", "edit_user", "delete_user"})
    VIM_ACTIONS = frozenset({"next_match", "previous_match"})

    vim: var[bool] = var(False, bindings=True)  # the app's `vim = true`: g is gg's
    # What the pane shows: which users in which order, how many there are, whether a page is
    # on its way. The status line, the title and the headers follow them.
    sort: var[Sort | None] = var(None)  # None: off (id order)
    filters: var[dict[str, str]] = var(dict)
    total: var[int | None] = var(None)
    loading: var[bool] = var(False)

    class Highlighted(Message):
        """The cursor is on this user (None: no user)."""

        def __init__(self, user: User | None) -> None:
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
        self.cancelled = False  # the last load was cancelled with escape; the status says so
        self._highlighted_id: int | None = None
        self.status = Static("", id="users-status", classes="pane-status")

    def compose(self) -> ComposeResult:
        search = Input(placeholder="search name or email…", id="users-search")
        search.display = False
        yield search
        yield self.message
        # A cell cursor: `s`, `y` and `v` act on the column under it.
        table: DataTable[Any] = DataTable(id="users-table", cursor_type="cell", zebra_stripes=True)
        for key in COLUMNS:
            table.add_column(self._header(key), key=key)
        yield table
        yield self.status

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#users-table", DataTable)

    @property
    def view(self) -> UserView:
        """What a page, the count and an export ask the API for."""
        column, descending = self.sort or ("id", False)
        return UserView(column, descending, self.query_text, dict(self.filters))

    def _header(self, key: str) -> Text:
        # The arrow's place is kept when unsorted: the column's width never jumps.
        arrow = ARROWS[self.sort[1]] if self.sort and self.sort[0] == key else " "
        return Text(f"{COLUMNS[key]} {arrow}", style="bold" if arrow != " " else "")

    def watch_sort(self) -> None:
        self._show_title()

    def watch_filters(self) -> None:
        self._show_title()

    def watch_total(self) -> None:
        self._show_status()

    def watch_loading(self) -> None:
        self._show_status()

    def _show_title(self) -> None:
        parts = ["Users"]
        if self.sort:
            parts.append(f"sort {COLUMNS[self.sort[0]]} {ARROWS[self.sort[1]]}")
        if self.filters:
            parts.append(describe_filters(self.filters))
        self.border_title = " · ".join(parts)

    # -- loading --------------------------------------------------------------------------------

    def refresh_data(self) -> None:
        """Reload the rows on screen (the window's top page, fetched again) and the count."""
        if self.window.pages and not self.window.at_start:
            self.load("refresh")
        else:
            self.load("first")

    async def _page(self, view: UserView, fetch: Fetch) -> Page:
        page = await self.client.list_users(
            view, limit=PAGE_SIZE, cursor=fetch.cursor, reverse=fetch.reverse
        )
        return page_of(page.items, fetch, page.next, page.prev)

    @work(exclusive=True, group="users-load")
    async def load(
        self, mode: str, anchor: int | None = None, debounce: float = 0.0, recount: bool = True
    ) -> None:
        """Fetch a page (mode: first, last, from, refresh, down, up); recount=False keeps a
        known total."""
        if debounce:
            await asyncio.sleep(debounce)
        window, view = self.window, self.view
        self.loading = True
        self.cancelled = False
        keep_id = self._highlighted_id
        cursor: int | None = None
        filled = False
        try:
            if mode == "first":
                window.reset(await self._page(view, Fetch(None)))
                cursor = 0
            elif mode == "last":
                # The reverse order's first page, turned round: the end without a scan.
                window.reset(await self._page(view, Fetch(None, reverse=True)))
                cursor = len(window) - 1
            elif mode == "from" and anchor is not None:
                # In id order an id is a cursor: the page from this user (its `prev` leads
                # to the one before).
                start = Fetch(str(anchor - 1)) if anchor > 1 else Fetch(None)
                window.reset(await self._page(view, start))
            elif mode == "refresh" and window.pages:
                window.reset(await self._page(view, window.pages[0].fetch))
            elif mode == "down" and (fetch := window.fetch_down()) is not None:
                dropped = window.extend_down(await self._page(view, fetch))
                cursor = max(0, self.table.cursor_row - dropped)
            elif mode == "up" and (fetch := window.fetch_up()) is not None:
                added = window.extend_up(await self._page(view, fetch))
                cursor = self.table.cursor_row + added
            if cursor is None:
                cursor = window.index_of(keep_id) if keep_id is not None else None
            self.show_message(None)
            if (recount and mode in ("first", "last", "from", "refresh")) or self.total is None:
                # The rows first: counting a big table can take longer than the page did.
                self._fill(cursor or 0)
                filled = True
                self.total = await self.client.count_users(view)
        except ApiError as error:
            self.show_error(error)
            if error.schema_not_ready:
                window.reset(Page([], Fetch(None), None, None))
                self.total = None
                self._fill(0)
            return
        finally:
            if self.is_attached:  # not while the app quits: its screens are gone
                self.loading = False
        if not filled:
            self._fill(cursor or 0)

    def _fill(self, cursor: int) -> None:
        table = self.table
        column = table.cursor_column
        table.clear()
        for key, table_column in table.columns.items():
            table_column.label = self._header(str(key.value))
        for user in self.window.rows:
            table.add_row(
                cell(user.id),
                cell(shown(user.name)),
                cell(shown(user.email)),
                cell(user.post_count),
                cell(when(user.created_at)),
                key=str(user.id),
            )
        if self.window.rows:
            table.move_cursor(row=min(cursor, len(self.window) - 1), column=column, animate=False)
        else:
            self._announce(None)
        self._show_status()

    def _show_status(self) -> None:
        if not self.is_mounted:
            return
        window = self.window
        parts = []
        if window.rows and self.sort is None:
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

    def current_user(self) -> User | None:
        """The user under the cursor, by the row's key (the user's id)."""
        table = self.table
        if not table.is_valid_row_index(table.cursor_row):
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return self._users.get(int(row_key.value or 0))

    @property
    def _users(self) -> dict[int, User]:
        return {user.id: user for user in self.window.rows}

    def current_value(self) -> tuple[str, str] | None:
        """(column, the whole value the API gave) of the cell under the cursor."""
        user = self.current_user()
        if user is None:
            return None
        table = self.table
        _, column_key = table.coordinate_to_cell_key(table.cursor_coordinate)
        column = str(column_key.value)
        return column, str(getattr(user, column))

    def _announce(self, user: User | None) -> None:
        new_id = user.id if user else None
        if new_id != self._highlighted_id:
            self._highlighted_id = new_id
            self.post_message(self.Highlighted(user))

    @on(DataTable.CellHighlighted, "#users-table")
    def _highlighted(self, event: DataTable.CellHighlighted) -> None:
        row = event.coordinate.row
        window = self.window
        if event.coordinate != self.table.cursor_coordinate or not (0 <= row < len(window)):
            return  # a stale event from before the table was refilled
        self._announce(self.current_user())
        if self.loading:
            return
        if row >= len(window) - NEAR and not window.at_end:
            self.load("down")
        elif row < NEAR and not window.at_start:
            self.load("up")

    @on(DataTable.CellSelected, "#users-table")
    def _selected(self, event: DataTable.CellSelected) -> None:
        """enter: the user's posts; on a cell cut short, its whole value (as `v`)."""
        value = self.current_value()
        if value is not None and truncated(value[1]):
            self.action_view_value()
            return
        user = self.current_user()
        if user is not None:
            self.post_message(self.OpenPosts(user.id))

    @on(DataTable.HeaderSelected, "#users-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        self.cycle_sort(str(event.column_key.value))

    def reveal(self, user_id: int) -> None:
        """Show the window starting at this user, cursor on it (from a post's `a`): in id
        order and unfiltered, the order an id is a place in."""
        self.query_text = ""
        self.sort = None
        self.filters = {}
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
        user_id = user.id

        async def save(values: dict[str, str]) -> Any:
            changes = {k: v.strip() for k, v in values.items() if v.strip() != getattr(user, k)}
            if not changes:
                return user
            return await self.client.update_user(user_id, **changes)

        fields = [
            FormField("name", "Name", user.name),
            FormField("email", "Email", user.email),
        ]
        self.app.push_screen(FormScreen(f"Edit user #{user_id}", fields, save), self._written)

    def _written(self, result: Any) -> None:
        if result is None:
            return
        if isinstance(result, dict) and "id" in result:
            result = User.from_api(result)
        if isinstance(result, User):
            self._highlighted_id = result.id
            self.notify(f"saved user #{result.id} {result.name}")
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
                f"Delete user #{user.id} {user.name}?",
                f"{user.email} and their {user.post_count} posts go with them.",
                yes="Delete",
            )
        )
        if not sure:
            return
        try:
            await self.client.delete_user(user.id)
        except ApiError as error:
            self.notify(error.message, title="Delete failed", severity="error")
            return
        self.notify(f"deleted user #{user.id}")
        self.total = None
        self.refresh_data()
        self.post_message(self.Changed())

    # -- sort, filter, export, copy, view -------------------------------------------------------

    def cycle_sort(self, column: str) -> None:
        """Ascending, descending, off: the list starts again from its first page."""
        if self.sort is None or self.sort[0] != column:
            self.sort = (column, False)
        elif not self.sort[1]:
            self.sort = (column, True)
        else:
            self.sort = None
        self.load("first", recount=False)

    def action_sort(self) -> None:
        _, column_key = self.table.coordinate_to_cell_key(self.table.cursor_coordinate)
        self.cycle_sort(str(column_key.value))

    def action_filter(self) -> None:
        def apply(filters: dict[str, str] | None) -> None:
            if filters is None or filters == self.filters:
                return
            self.filters = filters
            self.total = None
            self.load("first")

        self.app.push_screen(FilterScreen(self.client, self.view), apply)

    def action_export(self) -> None:
        self.app.push_screen(ExportScreen(self.client, self.view))

    def action_copy_cell(self) -> None:
        value = self.current_value()
        if value is not None:
            self.app.copy_to_clipboard(value[1])
            self.notify(f"copied {COLUMNS[value[0]]}", timeout=1.5)

    def action_copy_row(self) -> None:
        user = self.current_user()
        if user is not None:
            self.app.copy_to_clipboard("\t".join(str(getattr(user, c)) for c in COLUMNS))
            self.notify(f"copied user #{user.id}", timeout=1.5)

    def action_view_value(self) -> None:
        value = self.current_value()
        user = self.current_user()
        if value is not None and user is not None:
            column, text = value
            self.app.push_screen(ValueScreen(f"user #{user.id} · {COLUMNS[column]}", text))

"""The posts pane: the selected user's posts (one GET /users/{id}), the post forms, the post
viewer and the value viewer."""

from __future__ import annotations

import asyncio
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from stackdeck.tui.client import ApiClient, ApiError
from stackdeck.tui.screens.confirm import ConfirmScreen
from stackdeck.tui.screens.form import FormField, FormScreen
from stackdeck.tui.screens.post_view import PostScreen
from stackdeck.tui.screens.value_view import ValueScreen
from stackdeck.tui.widgets.cells import CELL_WIDTH, cell, shown, truncated, when
from stackdeck.tui.widgets.pane import Pane

# The cursor moving through users fires a highlight per row; fetch only where it rests.
FOLLOW_DELAY = 0.12
# The table's columns: the post field each shows, and how wide its cell may grow.
COLUMNS = {"id": "id", "title": "title", "created": "created_at", "body": "body"}
WIDTHS = {"title": CELL_WIDTH, "body": 80}


class PostsPane(Pane):
    BINDINGS = [
        Binding("p", "new_post", "New post", id="new_post"),
        Binding("e", "edit_post", "Edit post", id="edit_post"),
        Binding("delete", "delete_post", "Delete post", id="delete_post"),
        Binding("a", "author", "Author", id="author"),
        Binding("v", "view_value", "View value", show=False, id="view_post_value"),
    ]
    WRITE_ACTIONS = frozenset({"new_post", "edit_post", "delete_post"})

    class ShowAuthor(Message):
        def __init__(self, user_id: int) -> None:
            super().__init__()
            self.user_id = user_id

    class Revealing(Message):
        """reveal_post's: show the post's author in the users pane, the focus staying here."""

        def __init__(self, user_id: int) -> None:
            super().__init__()
            self.user_id = user_id

    class Changed(Message):
        """A post was written; the users pane's post counts are stale."""

    def __init__(self, client: ApiClient) -> None:
        super().__init__(client, id="posts", title="Posts")
        self.user: dict[str, Any] | None = None
        self.posts: list[dict[str, Any]] = []
        self._wanted_post: int | None = None  # reveal_post's: the cursor goes to it once in

    def compose(self) -> ComposeResult:
        yield self.message
        # A cell cursor, as in the users pane: `v` and enter act on the cell under it.
        table: DataTable[Any] = DataTable(id="posts-table", cursor_type="cell", zebra_stripes=True)
        for key in COLUMNS:
            table.add_column(key, key=key)
        yield table

    def on_mount(self) -> None:
        self.show_message("select a user")

    @property
    def table(self) -> DataTable[Any]:
        return self.query_one("#posts-table", DataTable)

    def show_user(self, user_id: int | None, *, delay: float = FOLLOW_DELAY) -> None:
        if user_id is None:
            self.user, self.posts = None, []
            self.border_title = "Posts"
            self._fill()
            self.show_message("select a user")
            return
        self.load(user_id, delay)

    def refresh_data(self) -> None:
        if self.user is not None:
            self.load(int(self.user["id"]), 0.0)

    @work(exclusive=True, group="posts-load")
    async def load(self, user_id: int, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            user = await self.client.get_user(user_id)
        except ApiError as error:
            self.user, self.posts = None, []
            self._fill()
            self.show_error(error)
            return
        self.user = user
        self.posts = list(user.get("posts", []))
        self.border_title = f"Posts · {user['name']} (#{user['id']})"
        self.show_message(
            None if self.posts else "no posts yet" + ("" if self.read_only else " — press p")
        )
        self._fill()

    def _fill(self) -> None:
        table = self.table
        keep = table.cursor_row
        table.clear()
        table.add_rows(
            [
                (
                    cell(p["id"]),
                    cell(shown(p["title"], WIDTHS["title"])),
                    cell(when(p.get("created_at"))),
                    cell(shown(p.get("body", ""), WIDTHS["body"])),
                )
                for p in self.posts
            ]
        )
        if self.posts:
            wanted = [n for n, p in enumerate(self.posts) if p["id"] == self._wanted_post]
            if wanted:
                self._wanted_post, keep = None, wanted[0]
            row = min(max(keep, 0), len(self.posts) - 1)
            table.move_cursor(row=row, column=table.cursor_column, animate=False)

    @work(exclusive=True, group="posts-reveal")
    async def reveal_post(self, post_id: int, user_id: int | None = None) -> None:
        """Its author in the users pane, this post under the cursor here (the X-ray's `g`)."""
        if user_id is None:
            try:
                user_id = int((await self.client.get_post(post_id))["user_id"])
            except ApiError as error:
                self.notify(f"post #{post_id}: {error.message}", severity="warning")
                return
        self._wanted_post = post_id
        self.post_message(self.Revealing(user_id))
        self.load(user_id)

    def current_post(self) -> dict[str, Any] | None:
        row = self.table.cursor_row
        return self.posts[row] if 0 <= row < len(self.posts) else None

    def current_value(self) -> tuple[str, str] | None:
        """(column, the whole value the API gave) of the cell under the cursor."""
        post = self.current_post()
        if post is None:
            return None
        table = self.table
        _, column_key = table.coordinate_to_cell_key(table.cursor_coordinate)
        column = str(column_key.value)
        return column, str(post.get(COLUMNS[column], ""))

    @on(DataTable.CellSelected, "#posts-table")
    def _selected(self) -> None:
        """enter: the whole post; on a cell cut short, its whole value (as `v`)."""
        value = self.current_value()
        if value is not None and truncated(value[1], WIDTHS.get(value[0], CELL_WIDTH)):
            self.action_view_value()
            return
        post = self.current_post()
        if post is not None:
            self.app.push_screen(PostScreen(post, self.user))

    def action_view_value(self) -> None:
        value = self.current_value()
        post = self.current_post()
        if value is not None and post is not None:
            column, text = value
            self.app.push_screen(ValueScreen(f"post #{post['id']} · {column}", text))

    def action_author(self) -> None:
        post = self.current_post()
        user_id = int(post["user_id"]) if post else (int(self.user["id"]) if self.user else None)
        if user_id is not None:
            self.post_message(self.ShowAuthor(user_id))

    def action_new_post(self) -> None:
        if self.user is None:
            self.notify("select a user first", severity="warning")
            return
        user_id = int(self.user["id"])

        async def create(values: dict[str, str]) -> Any:
            return await self.client.create_post(user_id, values["title"].strip(), values["body"])

        fields = [FormField("title", "Title"), FormField("body", "Body", multiline=True)]
        self.app.push_screen(
            FormScreen(f"New post by {self.user['name']}", fields, create), self._written
        )

    def action_edit_post(self) -> None:
        post = self.current_post()
        if post is None:
            return

        async def save(values: dict[str, str]) -> Any:
            changes = {k: v for k, v in values.items() if v != post[k]}
            if not changes:
                return post
            return await self.client.update_post(int(post["id"]), **changes)

        fields = [
            FormField("title", "Title", post["title"]),
            FormField("body", "Body", post["body"], multiline=True),
        ]
        self.app.push_screen(FormScreen(f"Edit post #{post['id']}", fields, save), self._written)

    def _written(self, result: Any) -> None:
        if result is None:
            return
        self.notify(f"saved post #{result['id']}")
        self.refresh_data()
        self.post_message(self.Changed())

    @work(group="posts-write")
    async def action_delete_post(self) -> None:
        post = self.current_post()
        if post is None:
            return
        sure = await self.app.push_screen_wait(
            ConfirmScreen(f"Delete post #{post['id']}?", post["title"], yes="Delete")
        )
        if not sure:
            return
        try:
            await self.client.delete_post(int(post["id"]))
        except ApiError as error:
            self.notify(error.message, title="Delete failed", severity="error")
            return
        self.notify(f"deleted post #{post['id']}")
        self.refresh_data()
        self.post_message(self.Changed())

"""The console's switchboard: composes the panes, routes their messages, owns the global keys."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid
from textual.dom import DOMNode
from textual.events import Resize
from textual.reactive import var
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Tab, Tabs
from textual.worker import WorkerCancelled, WorkerFailed

from stackdeck.tui.client import SCHEMA_NOT_READY, ApiClient, ApiError, RequestRecord, api_base
from stackdeck.tui.config import ConfigError, default_path, profile_token
from stackdeck.tui.screens.confirm import ConfirmScreen
from stackdeck.tui.screens.help import HelpScreen
from stackdeck.tui.screens.migration import MigrationScreen
from stackdeck.tui.screens.request_log import XRAY_PATHS, RequestLogScreen
from stackdeck.tui.screens.xray import RequestTraceScreen, TransactionScreen
from stackdeck.tui.typeahead import TypeAheadApp
from stackdeck.tui.widgets.banner import Banner
from stackdeck.tui.widgets.migrations_pane import MigrationsPane
from stackdeck.tui.widgets.pane import Pane
from stackdeck.tui.widgets.posts_pane import PostsPane
from stackdeck.tui.widgets.status_bar import StatusBar
from stackdeck.tui.widgets.transactions_pane import TransactionsPane
from stackdeck.tui.widgets.users_pane import UsersPane

if TYPE_CHECKING:
    from stackdeck.tui.config_model import Config, Profile

HERE = Path(__file__).parent
NARROW = 110  # columns below which the panes become tabs
HEALTH_EVERY = 5.0
MAX_BACKOFF = 5.0
PANES = ("users", "posts", "transactions", "migrations")


class StackdeckApp(TypeAheadApp[None]):
    TITLE = "stackdeck"
    CSS_PATH = [
        HERE / "app.tcss",
        *(
            HERE / "widgets" / f"{name}.tcss"
            for name in ("pane", "banner", "users_pane", "transactions_pane", "migrations_pane")
        ),
    ]
    # Each binding's id is its name in the config file's [keymap]; the same id on a pane
    # (new_user, new_post) moves the pane's key with the app's.
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        # The reflex of every terminal user: the same quit as q (which asks while a write
        # runs). No id: a keymap that moves quit leaves ctrl+c where every terminal has it.
        Binding("ctrl+c", "quit", "Quit", show=False),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("n", "new_user", "New user", id="new_user"),
        Binding("p", "new_post", "New post", id="new_post"),
        Binding("b", "batch_demo", "Demo batch", id="batch_demo"),
        Binding("m", "upgrade", "Migrate", id="migrate"),
        Binding("d", "downgrade", "Downgrade", id="downgrade"),
        Binding("l", "request_log", "Requests", id="request_log"),
        # Off the crowded footer: the status bar it opens says "SQL statements" already.
        Binding("S", "last_statements", "Last statements", show=False, id="last_statements"),
        Binding("question_mark", "help", "Help", id="help"),
        # `vim = true` only (check_action): the arrows' twins, gg and G in any pane.
        Binding("j", "vim_key('down')", "Down", show=False, id="vim_down"),
        Binding("k", "vim_key('up')", "Up", show=False, id="vim_up"),
        Binding("h", "vim_key('left')", "Left", show=False, id="vim_left"),
        Binding("l", "vim_key('right')", "Right", show=False, id="vim_right"),
        Binding("g", "vim_top", "Top (press twice)", show=False, id="vim_top"),
        Binding("G", "vim_bottom", "Bottom", show=False, id="vim_bottom"),
    ]
    # Actions that write: hidden, disabled and refused by the client in read-only mode.
    WRITE_ACTIONS = frozenset({"new_user", "new_post", "batch_demo", "upgrade", "downgrade"})
    VIM_ACTIONS = frozenset({"vim_key", "vim_top", "vim_bottom"})

    vim: var[bool] = var(False, bindings=True)  # the config file's `vim = true`

    def __init__(
        self,
        client: ApiClient,
        *,
        api_label: str | None = None,
        database_label: str = "",
        health_every: float = HEALTH_EVERY,
        starting: Future[str] | None = None,
        after_first_page: Callable[[], None] | None = None,
        config: Config | None = None,
        config_path: Path | None = None,
        profile: str | None = None,
        notice: Callable[[], str | None] | None = None,
    ) -> None:
        """`starting`, when given, is the backend still starting in this process: the console
        draws itself meanwhile and loads once it resolves (to the masked database URL), then
        shows `notice()`, if any, once (the embedded server is shared, or was taken over).
        `after_first_page` is called once the first users page (or its error) is on screen.
        `config` is the config file's (theme, keys, profiles); `profile` the one opened."""
        super().__init__()
        self.config = config  # None: no file, the defaults (and no Pydantic to load)
        self.config_path = config_path
        self.profile = profile
        self.keymap = config.effective_keymap() if config else {}
        self._armed_at: int | None = None  # the key press that armed gg's first g
        self._presses = 0
        self.client = client
        self._start = (client, profile)  # the palette can come back to it
        self._start_database = database_label
        self._health_timer: Timer | None = None
        self.starting = starting
        self.after_first_page = after_first_page
        self.notice = notice
        self.api_label = api_label or client.base_url
        self.database_label = database_label
        self.health_every = health_every
        self.backend_down = False
        self.schema_state = "?"
        self.replica_state: str | None = None  # only when the backend reads from a standby
        self._schema_from_health = False
        self.last_request: RequestRecord | None = None  # the status bar's, for `S`
        self._make_panes()
        if config is not None and config.theme:
            self.theme = config.theme

    @property
    def profiles(self) -> dict[str, Profile]:
        return self.config.profiles if self.config is not None else {}

    def _make_panes(self) -> None:
        self.users = UsersPane(self.client)
        self.posts = PostsPane(self.client)
        self.transactions = TransactionsPane(self.client)
        self.migrations = MigrationsPane(self.client)
        self.status_bar = StatusBar("", id="status")
        self.users.vim = self.vim

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        banner = Banner(id="banner")
        banner.display = False
        yield banner
        tabs = Tabs(*(Tab(name.capitalize(), id=f"tab-{name}") for name in PANES), id="pane-tabs")
        tabs.display = False
        yield tabs
        with Grid(id="panes"):
            yield self.users
            yield self.posts
            yield self.transactions
            yield self.migrations
        yield self.status_bar
        yield Footer()

    def on_mount(self) -> None:
        self.set_keymap(self.keymap)
        self.vim = self.config is not None and self.config.vim
        self._show_connection()
        self.client.listeners.append(self._on_request)
        self.users.table.focus()
        if self.starting is None:
            # First the frame, then the requests: the first one loads httpx (ApiClient).
            self.call_after_refresh(self._connected)
        else:
            self.users.show_message("starting the backend…")
            self.call_after_refresh(self.client.prepare)  # while the backend starts
            self.wait_for_backend(self.starting)

    def _connected(self) -> None:
        self.load_users_first()
        if self._health_timer is None:
            self._health_timer = self.set_interval(self.health_every, self.check_health)

    @work(group="startup")
    async def load_users_first(self) -> None:
        """The users page, then everything else: the first page is what the user waits for,
        and the other panes' first calls (the migrations status is the heaviest) would share
        the machine with it (embedded, the backend's thread even shares this process)."""
        first = self.users.load("first")
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await first.wait()
        # After the page is on screen: their answers would slow the paint itself.
        self.call_after_refresh(self._load_the_rest)

    def _load_the_rest(self) -> None:
        if self.after_first_page is not None:
            after, self.after_first_page = self.after_first_page, None
            after()
        for pane in self.panes:
            if pane is not self.users:
                pane.refresh_data()
        self.check_health()

    @work(exclusive=True, group="starting")
    async def wait_for_backend(self, starting: Future[str]) -> None:
        try:
            self.database_label = await asyncio.wrap_future(starting)
        except Exception:  # the caller prints why, from the same future
            self.exit(return_code=2)
            return
        self.starting = None
        self._show_connection()
        if self.notice is not None and (text := self.notice()):
            self.notify(text, title="embedded PostgreSQL", timeout=20)
        self._connected()

    @property
    def panes(self) -> list[Pane]:
        return [self.users, self.posts, self.transactions, self.migrations]

    def on_resize(self, event: Resize) -> None:
        narrow = event.size.width < NARROW
        self.query_one("#panes").set_class(narrow, "-narrow")
        self.query_one("#pane-tabs").display = narrow
        if narrow:
            self._activate(self._focused_pane() or self.users)

    def _focused_pane(self) -> Pane | None:
        node: DOMNode | None = self.focused
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        return node

    def _activate(self, pane: Pane) -> None:
        for other in self.panes:
            other.set_class(other is pane, "-active")
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{pane.id}":
            tabs.active = f"tab-{pane.id}"

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        name = (event.tab.id or "").removeprefix("tab-")
        pane = next((p for p in self.panes if p.id == name), None)
        if pane is not None and self.query_one("#panes").has_class("-narrow"):
            self._activate(pane)
            pane.query("DataTable, RichLog").first().focus()

    def _show_connection(self) -> None:
        parts = [f"profile {self.profile}"] if self.profile else []
        parts.append(self.api_label)
        if self.database_label:
            parts.append(self.database_label)
        parts.append("starting the backend…" if self.starting else f"schema {self.schema_state}")
        if self.replica_state is not None:
            parts.append(self.replica_state)
        if self.client.read_only:
            parts.append("READ-ONLY")
        self.sub_title = " · ".join(parts)

    def _set_schema_state(self, state: str) -> None:
        if state != self.schema_state:
            self.schema_state = state
            self._show_connection()

    # -- the backend's health -------------------------------------------------------------------

    def _on_request(self, record: RequestRecord) -> None:
        if not record.path.startswith(("/health", "/transactions/stream", XRAY_PATHS)):
            self.last_request = record
            if self.status_bar.is_attached:  # a stream's request may land as the app closes
                self.status_bar.show(record)
        if not self._schema_from_health:
            # An older backend's /health says nothing of the schema: read it from the answers.
            if record.status == 503 and (record.error or "").startswith(SCHEMA_NOT_READY):
                self._set_schema_state("not migrated — press m")
            elif record.status == 200 and record.path.startswith("/users?"):
                self._set_schema_state("ready")
        if record.status == 0 and not self.backend_down:
            self.backend_down = True
            self.recover(record.error or "no answer")

    @work(exclusive=True, group="health")
    async def check_health(self) -> None:
        if self.backend_down:
            return
        try:
            health = await self.client.health()
        except ApiError:
            return  # _on_request has started the recovery if nobody answered
        self._set_replica_state(health)
        schema = health.get("schema")
        if isinstance(schema, dict):
            self._schema_from_health = True
            if schema.get("at_head"):
                self._set_schema_state("at head")
            elif not schema.get("current"):
                self._set_schema_state("not migrated — press m")
            else:
                self._set_schema_state("behind head — press m")
        elif health.get("database") == "down":
            self._set_schema_state("? (database down)")

    def _set_replica_state(self, health: dict[str, Any]) -> None:
        replica = health.get("replica")
        state = None
        if isinstance(replica, str):
            lag = health.get("replica_lag_ms")
            state = f"replica {replica}"
            if replica == "lagging" and isinstance(lag, (int, float)):
                state += f" {lag / 1000:.1f} s"
        if state != self.replica_state:
            self.replica_state = state
            self._show_connection()

    @work(exclusive=True, group="recover")
    async def recover(self, detail: str) -> None:
        """Retry /health with backoff until the backend answers, then reload every pane."""
        banner = self.query_one("#banner", Banner)
        backoff = 0.5
        while True:
            banner.show_down(detail, backoff)
            await asyncio.sleep(backoff)
            try:
                await self.client.health()
            except ApiError as error:
                detail = error.detail or error.title
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            break
        self.backend_down = False
        banner.hide()
        self.notify("the backend is back", title="Reconnected")
        self.refresh_all()

    def refresh_all(self) -> None:
        for pane in self.panes:
            pane.refresh_data()
        self.check_health()

    # -- messages between panes -----------------------------------------------------------------

    @on(UsersPane.Highlighted)
    def _user_highlighted(self, event: UsersPane.Highlighted) -> None:
        self.posts.show_user(event.user.id if event.user else None)

    @on(UsersPane.OpenPosts)
    def _open_posts(self, event: UsersPane.OpenPosts) -> None:
        self.posts.load(event.user_id)
        self.posts.table.focus()
        self._activate_if_narrow(self.posts)

    @on(PostsPane.ShowAuthor)
    def _show_author(self, event: PostsPane.ShowAuthor) -> None:
        self.users.reveal(event.user_id)
        self._activate_if_narrow(self.users)

    @on(PostsPane.Revealing)
    def _revealing_post(self, event: PostsPane.Revealing) -> None:
        self.users.reveal(event.user_id)
        self.posts.table.focus()

    @on(TransactionScreen.ShowRow)
    def _show_row(self, event: TransactionScreen.ShowRow) -> None:
        """`g` on a change: back to the panes, on that row (a post: in its author's posts)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        change = event.change
        if change.table == "users":
            self.users.reveal(change.id)
            self._activate_if_narrow(self.users)
        else:
            self.posts.reveal_post(change.id, (change.after or {}).get("user_id"))
            self._activate_if_narrow(self.posts)

    @on(StatusBar.Clicked)
    def _status_clicked(self) -> None:
        self.action_last_statements()

    @on(PostsPane.Changed)
    @on(TransactionsPane.BatchFinished)
    def _data_changed(self) -> None:
        self.users.refresh_data()

    @on(UsersPane.Changed)
    def _users_changed(self) -> None:
        self.posts.refresh_data()

    @on(MigrationScreen.Finished)
    def _migrated(self) -> None:
        self.refresh_all()

    def _activate_if_narrow(self, pane: Pane) -> None:
        if self.query_one("#panes").has_class("-narrow"):
            self._activate(pane)

    # -- keys -----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.VIM_ACTIONS:
            return self.vim
        return not (action in self.WRITE_ACTIONS and self.client.read_only)

    def watch_vim(self, vim: bool) -> None:
        self.users.vim = vim

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._presses += 1  # gg: two presses in a row, nothing between them
        await super().on_event(event)

    def action_vim_key(self, key: str) -> None:
        """j/k/h/l: exactly what the arrow key does where the focus is."""
        self.simulate_key(key)

    def action_vim_top(self) -> None:
        """gg: the first g arms, a second one straight after goes to the top; any other key
        in between disarms it."""
        if self._armed_at is None or self._armed_at != self._presses - 1:
            self._armed_at = self._presses
            return
        self._armed_at = None
        self._vim_jump(top=True)

    def action_vim_bottom(self) -> None:
        self._vim_jump(top=False)

    def _vim_jump(self, *, top: bool) -> None:
        if self._focused_pane() is self.users:
            self.users.action_first() if top else self.users.action_last()
        elif isinstance(focused := self.focused, DataTable):
            focused.action_scroll_top() if top else focused.action_scroll_bottom()
        elif isinstance(focused, ScrollView):
            focused.scroll_home(animate=False) if top else focused.scroll_end(animate=False)

    def action_refresh(self) -> None:
        self.refresh_all()
        self.notify("refreshing every pane", timeout=1.5)

    def action_new_user(self) -> None:
        self.users.action_new_user()

    def action_new_post(self) -> None:
        self.posts.action_new_post()

    def action_batch_demo(self) -> None:
        self.transactions.action_batch_demo()

    def action_upgrade(self) -> None:
        self.migrations.action_upgrade()

    def action_downgrade(self) -> None:
        self.migrations.action_downgrade()

    def action_request_log(self) -> None:
        self.push_screen(RequestLogScreen(self.client))

    def action_last_statements(self) -> None:
        """The status bar's request, X-rayed: its statements and warnings."""
        record = self.last_request
        if record is None or not record.request_id:
            self.notify("no request with an id yet", severity="warning", timeout=2)
            return
        self.push_screen(RequestTraceScreen(self.client, record.request_id))

    def action_help(self) -> None:
        def keys_of(node: DOMNode) -> list[tuple[str, str]]:
            return [(self.get_key_display(b), b.description) for _, b in self._bindings_of(node)]

        sections = [("Everywhere", keys_of(self))]
        for pane in self.panes:
            if keys := keys_of(pane):
                sections.append((str(pane.border_title).split(" ·")[0], keys))
        self.push_screen(HelpScreen(sections))

    async def action_quit(self) -> None:
        busy = self.client.writes_in_flight > 0 or any(
            isinstance(screen, MigrationScreen) and screen.phase == "running"
            for screen in self.screen_stack
        )
        if not busy:
            self.exit()
            return

        def answered(sure: bool | None) -> None:
            if sure:
                self.exit()

        self.push_screen(
            ConfirmScreen("A write or a migration is in flight. Quit anyway?", yes="Quit"),
            answered,
        )

    # -- the command palette: every binding, from the bindings themselves -----------------------

    def _bindings_of(self, node: DOMNode) -> Iterator[tuple[DOMNode, Binding]]:
        """The node's bindings with the keys the keymap gave them."""
        for binding in node.BINDINGS:
            if not isinstance(binding, Binding):
                continue
            if binding.id in self.keymap:
                binding = binding.with_key(self.keymap[binding.id], key_display=None)
            if binding.action.split("(")[0] in self.VIM_ACTIONS and not self.vim:
                continue
            # Read-only rules only: the palette itself is a modal screen.
            if binding.action in self.WRITE_ACTIONS and self.client.read_only:
                continue
            if node is not self and node.check_action(binding.action, ()) is False:
                continue
            yield node, binding

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for node in [self, *self.panes]:
            for owner, binding in self._bindings_of(node):
                if binding.action in ("quit", "help") or not binding.show:
                    continue
                where = "" if owner is self else f" ({owner.id})"
                yield SystemCommand(
                    f"{binding.description}{where}",
                    f"key {binding.key}",
                    partial(self.run_action, binding.action, owner),
                )
        for name, profile in sorted(self.profiles.items()):
            if name != self.profile:
                mode = "read-only" if profile.read_only else "read-write"
                yield SystemCommand(
                    f"Profile: {name}",
                    f"open {profile.api_url} ({mode})",
                    partial(self.switch_profile, name),
                )
        start, start_profile = self._start
        if start_profile is None and start is not self.client:
            yield SystemCommand(
                "Profile: back to the start", f"open {start.base_url} again", self.back_to_start
            )

    # -- profiles: another backend, without a restart -------------------------------------------

    @work(exclusive=True, group="profile")
    async def switch_profile(self, name: str) -> None:
        profile = self.profiles[name]
        try:
            token = profile_token(self.config_path or default_path(), name, profile)
        except ConfigError as error:
            self.notify(error.lines[0], title="Profile not opened", severity="error")
            return
        url = api_base(profile.api_url)
        await self.use_client(ApiClient(url, token=token, read_only=profile.read_only), name)

    @work(exclusive=True, group="profile")
    async def back_to_start(self) -> None:
        await self.use_client(*self._start)

    async def use_client(self, client: ApiClient, profile: str | None) -> None:
        """Replace the client: fresh panes on it (their workers end with the old ones), the
        header names the profile, and everything loads as at launch."""
        old = self.client
        for group in ("starting", "startup", "recover", "health"):
            self.workers.cancel_group(self, group)
        self.starting = None
        with contextlib.suppress(ValueError):
            old.listeners.remove(self._on_request)
        grid = self.query_one("#panes", Grid)
        await grid.remove_children()
        start_client = self._start[0]
        if old is start_client:
            self._start_database = self.database_label
        self.client, self.profile = client, profile
        self.api_label = client.base_url
        self.database_label = self._start_database if client is start_client else ""
        self.backend_down, self.schema_state, self._schema_from_health = False, "?", False
        self.query_one("#banner", Banner).hide()
        self._make_panes()
        await grid.mount_all(self.panes)
        client.listeners.append(self._on_request)
        self.users.table.focus()
        if grid.has_class("-narrow"):
            self._activate(self.users)
        self._show_connection()
        self.refresh_bindings()  # read-only or not, per profile
        self._connected()
        await old.aclose()
        self.notify(f"{profile or 'start'}: {client.base_url}", title="Profile")

"""Runs the console against a backend URL (the embedded backend is started by backend.cli)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.theme import BUILTIN_THEMES

from stackdeck.backend import exits
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import ApiClient, api_base
from stackdeck.tui.config import load_config, render
from stackdeck.tui.screens.xray import RequestTraceScreen, TransactionScreen
from stackdeck.tui.widgets.posts_pane import PostsPane
from stackdeck.tui.widgets.transactions_pane import TransactionsPane
from stackdeck.tui.widgets.users_pane import UsersPane

if TYPE_CHECKING:
    from stackdeck.tui.config_model import Config

__all__ = ["api_base", "console_bindings", "read_config", "run_console", "show_config"]


def console_bindings() -> dict[str, Binding]:
    """Every binding a [keymap] can move, by id (the first owner's, where a pane shares one)."""
    bindings: dict[str, Binding] = {}
    panes = (UsersPane, PostsPane, TransactionsPane)
    for owner in (StackdeckApp, *panes, RequestTraceScreen, TransactionScreen):
        for binding in owner.BINDINGS:
            if isinstance(binding, Binding) and binding.id is not None:
                bindings.setdefault(binding.id, binding)
    return bindings


def read_config(path: Path) -> Config:
    """The config file checked against the console's own themes and binding ids."""
    return load_config(path, themes=BUILTIN_THEMES, binding_ids=console_bindings())


def show_config(path: Path, config: Config) -> list[str]:
    """What `stackdeck config` prints."""
    bindings = {bid: (b.key, b.description) for bid, b in console_bindings().items()}
    return render(path, config, bindings)


def run_console(
    api_url: str,
    *,
    token: str | None = None,
    read_only: bool = False,
    database_label: str = "",
    starting: Future[str] | None = None,
    after_first_page: Callable[[], None] | None = None,
    notice: Callable[[], str | None] | None = None,
    config: Config | None = None,
    config_path: Path | None = None,
    profile: str | None = None,
) -> int:
    client = ApiClient(api_base(api_url), token=token, read_only=read_only)
    app = StackdeckApp(
        client,
        database_label=database_label,
        starting=starting,
        after_first_page=after_first_page,
        notice=notice,
        config=config,
        config_path=config_path,
        profile=profile,
    )
    # SIGTERM, SIGHUP (the terminal closed, signalled or not) and SIGINT quit the app as q
    # would, without asking: the caller then stops the backend, which finishes or rolls back
    # the writes in flight.
    with exits.divert(partial(_quit, app)):
        exits.watch_terminal()
        app.run()
    return app.return_code or 0


def _quit(app: StackdeckApp, signum: int) -> bool:
    try:
        loop = asyncio.get_running_loop()  # the app's, when the signal lands while it runs
    except RuntimeError:
        return False  # not running (yet, or any more): the signal ends the process instead
    loop.call_soon_threadsafe(partial(app.exit, return_code=128 + signum))
    return True

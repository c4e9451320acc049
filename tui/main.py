"""Runs the console against a backend URL (the embedded backend is started by backend.cli)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial

from stackdeck.backend import exits
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import ApiClient

API_PREFIX = "/api/v1"


def api_base(url: str) -> str:
    """Accept http://host:port or http://host:port/api/v1; return the latter."""
    url = url.rstrip("/")
    return url if url.endswith(API_PREFIX) else url + API_PREFIX


def run_console(
    api_url: str,
    *,
    token: str | None = None,
    read_only: bool = False,
    database_label: str = "",
    starting: Future[str] | None = None,
    after_first_page: Callable[[], None] | None = None,
    notice: Callable[[], str | None] | None = None,
) -> int:
    client = ApiClient(api_base(api_url), token=token, read_only=read_only)
    app = StackdeckApp(
        client,
        database_label=database_label,
        starting=starting,
        after_first_page=after_first_page,
        notice=notice,
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

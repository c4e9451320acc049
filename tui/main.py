"""Runs the console against a backend URL (the embedded backend is started by backend.cli)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

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
) -> int:
    client = ApiClient(api_base(api_url), token=token, read_only=read_only)
    app = StackdeckApp(
        client,
        database_label=database_label,
        starting=starting,
        after_first_page=after_first_page,
    )
    app.run()
    return app.return_code or 0

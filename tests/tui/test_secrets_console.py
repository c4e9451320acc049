"""The console never shows the database password: not in the header, a pane, a form or a log."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import ApiClient
from stackdeck.tui.screens.form import FormScreen
from tests.conftest import CANARY, make_settings
from tests.helpers import free_port
from tests.tui.conftest import SIZE
from tests.tui.helpers import loads_idle, screen_text, until


def console_on(backend: BackendThread) -> StackdeckApp:
    return StackdeckApp(ApiClient(backend.url), database_label=backend.database_url_masked)


def logged(app: StackdeckApp) -> str:
    return "\n".join(f"{r.path} {r.error}" for r in app.client.log)


async def test_the_console_never_shows_the_database_password(canary_url: str) -> None:
    seen: list[str] = []
    backend = BackendThread(make_settings(canary_url))
    backend.start()
    try:
        app = console_on(backend)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: loads_idle(app) and app.transactions.connected)
            main = screen_text(app)
            assert "canary:***@" in main  # the header names the database, masked
            seen.append(main)
            await pilot.press("n", *"Ada", "tab", *"ada@example.com", "enter")
            await until(pilot, lambda: loads_idle(app) and app.users.total == 1)
            await pilot.press("n", *"Ada", "tab", *"ada@example.com", "enter")  # 409
            await until(pilot, lambda: isinstance(app.screen, FormScreen))
            error = app.screen.query_one("#error-email")
            await until(pilot, lambda: "exists" in str(error.render()).lower())
            seen.append(screen_text(app))
            await pilot.press("escape")
            await pilot.press("b")  # a rollback in the transactions pane
            await until(pilot, lambda: app.transactions.totals["rolled_back"] >= 1)
            seen.append(screen_text(app))
            await pilot.press("l")
            await until(pilot, lambda: "Request log" in screen_text(app))
            seen.append(screen_text(app))
            seen.append(logged(app))
    finally:
        backend.stop()

    # A database that does not answer: every pane says so, and the password stays hidden.
    dead = make_url(canary_url).set(host="127.0.0.1", port=free_port(), query={})
    down = BackendThread(make_settings(dead.render_as_string(False), connect_timeout=1))
    down.start()
    try:
        app = console_on(down)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: any(r.status == 503 for r in app.client.log))
            await until(pilot, lambda: loads_idle(app))
            seen.append(screen_text(app))
            seen.append(logged(app))
    finally:
        down.stop()

    assert all(seen)
    leaks = [text for text in seen if CANARY in text]
    assert not leaks, leaks[0][:500]

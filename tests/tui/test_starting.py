"""The console opens while its embedded backend is still starting, and loads once it is up."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future

from stackdeck.backend.launcher import BackendThread
from stackdeck.backend.listening import LauncherError
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import ApiClient
from tests.conftest import make_settings
from tests.tui.conftest import SIZE
from tests.tui.helpers import loads_idle, until


async def test_the_console_draws_while_the_backend_starts_then_loads(database_url: str) -> None:
    backend = BackendThread(make_settings(database_url))
    url = backend.listen()  # the URL is known before anything has started
    starting: Future[str] = Future()
    app = StackdeckApp(ApiClient(url), starting=starting)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "starting the backend" in app.sub_title)
            assert "starting the backend" in str(app.users.message.render())
            assert not app.client.log  # nothing is asked of a backend that is not up
            # Held back until the assertions above, so a fast start cannot race them.
            label = await asyncio.wrap_future(backend.start_soon())
            starting.set_result(label)
            await until(pilot, lambda: loads_idle(app) and app.users.total == 0)
            assert "starting" not in app.sub_title and label in app.sub_title
            assert not app.users.message.display
            await until(pilot, lambda: app.transactions.connected)
    finally:
        backend.stop()


async def test_a_backend_that_cannot_start_ends_the_console(database_url: str) -> None:
    starting: Future[str] = Future()
    app = StackdeckApp(ApiClient("http://127.0.0.1:9/api/v1"), starting=starting)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "starting the backend" in app.sub_title)
        starting.set_exception(LauncherError("cannot listen on 127.0.0.1:9"))
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 2
    assert not app.client.log

"""Keys typed at machine speed (a paste, tmux send-keys, an expect script) land where aimed."""

from __future__ import annotations

# The parser every Textual driver reads the terminal with: a burst becomes key events
# all queued at once, as a real terminal delivers them.
from textual._xterm_parser import XTermParser

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.screens.form import FormScreen
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, until, user_rows


async def test_a_burst_typed_into_the_new_user_form_creates_the_user(
    backend: BackendThread,
) -> None:
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 0)
        # `n` opens the form; the name, Tab, the email and Enter follow with no pause.
        for event in XTermParser().feed("nBurst Name\tburst@example.com\r"):
            app.post_message(event)
        await until(pilot, lambda: not isinstance(app.screen, FormScreen), within=20)
        await until(pilot, lambda: loads_idle(app) and app.users.total == 1, within=20)
        [row] = user_rows(app)
        assert (row.name, row.email) == ("Burst Name", "burst@example.com")

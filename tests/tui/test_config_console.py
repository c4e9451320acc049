"""The config file's effect on the running console, through Pilot against a real backend:
theme, keymap, the vim preset, and profiles (a backend that wants a token)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import OptionList

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import ApiClient, api_base
from stackdeck.tui.config_model import Config, Profile
from stackdeck.tui.screens.form import FormScreen
from stackdeck.tui.screens.help import HelpScreen
from stackdeck.tui.screens.request_log import RequestLogScreen
from tests.conftest import make_settings
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, screen_text, until
from tests.tui.seed import seed_users

TOKEN = "profile-t0ken-for-tests"
TOKEN_ENV = "STACKDECK_TEST_PROFILE_TOKEN"


def emails(app: StackdeckApp) -> list[str]:
    return [str(row.email) for row in app.users.window.rows]


async def test_the_theme_is_applied(backend: BackendThread) -> None:
    app = make_console(backend, config=Config(theme="nord"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app))
        assert app.theme == "nord"
        assert app.current_theme.name == "nord"


async def test_a_keymap_moves_a_binding_everywhere_it_is_shown(backend: BackendThread) -> None:
    app = make_console(backend, config=Config(keymap={"new_user": "ctrl+o", "refresh": "f5"}))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app))
        await pilot.press("n")  # its old key does nothing now
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen))
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["New user"] == "key ctrl+o"
        assert commands["Refresh"] == "key f5"
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        everywhere = {description: key for key, description in help_screen.sections[0][1]}
        assert everywhere["New user"] == "^o" and everywhere["Refresh"] == "f5"


async def test_vim_moves_with_j_k_gg_and_G(backend: BackendThread) -> None:
    seed_users(backend.url, 30)
    app = make_console(backend, config=Config(vim=True))
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        await until(pilot, lambda: loads_idle(app) and users.total == 30)
        table = users.table
        await pilot.press("j", "j", "j")
        await until(pilot, lambda: table.cursor_row == 3)
        await pilot.press("k")
        await until(pilot, lambda: table.cursor_row == 2)
        await pilot.press("G")
        await until(pilot, lambda: loads_idle(app) and table.cursor_row == 29)
        await pilot.press("g")  # one g only arms
        await pilot.pause()
        assert table.cursor_row == 29
        await pilot.press("k", "g")  # a key in between disarms the first g
        await until(pilot, lambda: loads_idle(app) and table.cursor_row == 28)
        await pilot.press("g")
        await until(pilot, lambda: loads_idle(app) and table.cursor_row == 0)
        assert users.current_user().email == "user0000@example.com"  # type: ignore[union-attr]
        # The keys vim took moved: n is no longer new user, o is; l is right, L the log.
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, FormScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, FormScreen))
        await pilot.press("l")
        await pilot.pause()
        assert not isinstance(app.screen, RequestLogScreen)
        await pilot.press("L")
        await until(pilot, lambda: isinstance(app.screen, RequestLogScreen))


async def test_vim_keys_work_in_the_posts_pane_too(backend: BackendThread) -> None:
    seed_users(backend.url, 1, posts_each=5)
    app = make_console(backend, config=Config(vim=True))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 1)
        await pilot.press("enter")
        posts = app.posts.table
        await until(pilot, lambda: loads_idle(app) and posts.has_focus and posts.row_count == 5)
        await pilot.press("j", "j")
        await until(pilot, lambda: posts.cursor_row == 2)
        await pilot.press("G")
        await until(pilot, lambda: posts.cursor_row == 4)
        await pilot.press("g", "g")
        await until(pilot, lambda: posts.cursor_row == 0)


async def test_vim_n_and_N_step_through_the_search_matches_and_wrap(
    backend: BackendThread,
) -> None:
    seed_users(backend.url, 5)
    seed_users(backend.url, 3, prefix="zed")
    app = make_console(backend, config=Config(vim=True))
    async with app.run_test(size=SIZE) as pilot:
        users = app.users
        table = users.table
        await until(pilot, lambda: loads_idle(app) and users.total == 8)
        await pilot.press("n")  # no search yet: nothing moves, no form opens
        await pilot.pause()
        assert table.cursor_row == 0 and not isinstance(app.screen, FormScreen)
        await pilot.press("slash", *"zed", "enter")
        await until(pilot, lambda: loads_idle(app) and users.total == 3 and table.has_focus)
        await pilot.press("n")
        await until(pilot, lambda: table.cursor_row == 1)
        await pilot.press("n")
        await until(pilot, lambda: table.cursor_row == 2)
        await pilot.press("n")  # past the last match: back to the first
        await until(pilot, lambda: loads_idle(app) and table.cursor_row == 0)
        await pilot.press("N")  # before the first: the last
        await until(pilot, lambda: loads_idle(app) and table.cursor_row == 2)
        assert users.current_user().email == "zed0002@example.com"  # type: ignore[union-attr]
        await pilot.press("N")
        await until(pilot, lambda: table.cursor_row == 1)


async def test_vim_keys_do_nothing_without_the_preset(backend: BackendThread) -> None:
    seed_users(backend.url, 5)
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and app.users.total == 5)
        await pilot.press("j", "j")
        await pilot.pause()
        assert app.users.table.cursor_row == 0
        await pilot.press("n")  # still new user
        await until(pilot, lambda: isinstance(app.screen, FormScreen))


# -- profiles -----------------------------------------------------------------------------------


@pytest.fixture
def token_backend(database_url: str) -> Iterator[BackendThread]:
    """A second backend, on its own database, that answers only with the token."""
    backend = BackendThread(make_settings(database_url, api_token=SecretStr(TOKEN)))
    backend.start()
    try:
        answer = httpx.post(
            f"{backend.url}/users",
            json={"name": "Secure Sam", "email": "sam@secure.example"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        answer.raise_for_status()
        assert httpx.get(f"{backend.url}/users", timeout=30).status_code == 401
        yield backend
    finally:
        backend.stop()


async def choose(pilot: Pilot[None], app: StackdeckApp, command: str) -> None:
    """Pick a command from the palette by its title, as a user would."""
    await pilot.press("ctrl+p", *command)
    await until(pilot, lambda: isinstance(app.screen, CommandPalette))
    options = app.screen.query_one(OptionList)

    def chosen() -> bool:
        # The hits arrive while the search runs: wait until this one is on top.
        if options.option_count == 0 or options.highlighted is None:
            return False
        prompt = options.get_option_at_index(options.highlighted).prompt
        return str(prompt).startswith(command)

    await until(pilot, chosen)
    await pilot.press("enter")


async def test_the_palette_switches_to_a_profile_with_a_token_from_the_environment(
    empty_backend: BackendThread, token_backend: BackendThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.delenv("STACKDECK_TEST_UNSET_TOKEN", raising=False)
    profiles = {
        "secure": Profile(api_url=token_backend.root_url, token_env=TOKEN_ENV),
        "broken": Profile(api_url=token_backend.root_url, token_env="STACKDECK_TEST_UNSET_TOKEN"),
    }
    start = empty_backend  # a backend with no schema, so no rows
    app = make_console(start, config=Config(profiles=profiles))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await until(pilot, lambda: loads_idle(app))
        assert emails(app) == []
        # A profile whose variable is unset is not opened: the console stays where it is.
        await choose(pilot, app, "Profile: broken")
        await until(pilot, lambda: "STACKDECK_TEST_UNSET_TOKEN" in screen_text(app))
        assert app.profile is None and app.client.base_url == start.url
        await choose(pilot, app, "Profile: secure")
        await until(pilot, lambda: loads_idle(app) and emails(app) == ["sam@secure.example"])
        assert app.profile == "secure"
        assert "profile secure" in app.sub_title and "READ-ONLY" in app.sub_title
        # A profile is read-only unless it says otherwise: the write keys are gone.
        assert app.client.read_only
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, FormScreen)
        await until(pilot, lambda: app.transactions.connected)  # the stream, with the token
        await choose(pilot, app, "Profile: back to the start")
        await until(pilot, lambda: loads_idle(app) and app.profile is None)
        assert emails(app) == [] and "profile" not in app.sub_title
        assert not app.client.read_only


async def test_a_read_write_profile_opened_at_launch_writes_with_its_token(
    token_backend: BackendThread,
) -> None:
    profile = Profile(api_url=token_backend.url, token=SecretStr(TOKEN), read_only=False)
    config = Config(profiles={"ops": profile})
    # What `stackdeck --profile ops` builds.
    client = ApiClient(api_base(profile.api_url), token=TOKEN, read_only=profile.read_only)
    app = StackdeckApp(client, config=config, profile="ops")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: loads_idle(app) and emails(app) == ["sam@secure.example"])
        assert "profile ops" in app.sub_title and "READ-ONLY" not in app.sub_title
        assert app.check_action("new_user", ()) and app.users.check_action("new_user", ())
        created = await app.client.create_user("Ops Olga", "olga@secure.example")
        assert created["email"] == "olga@secure.example"
        # The palette does not offer the profile already open.
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert not any(t.startswith("Profile:") for t in titles)

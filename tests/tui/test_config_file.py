"""The config file without a backend: where it is, what it accepts, and one line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackdeck.tui.config import ConfigError, config_path, pick_profile, profile_token
from stackdeck.tui.config_model import VIM_KEYMAP, Config, is_key
from stackdeck.tui.main import console_bindings, read_config, show_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def mistakes(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read_config(path)
    return caught.value.lines


def test_the_file_lives_in_the_xdg_config_dir_unless_pointed_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STACKDECK_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "stackdeck" / "config.toml"
    monkeypatch.setenv("STACKDECK_CONFIG", str(tmp_path / "env.toml"))
    assert config_path() == tmp_path / "env.toml"
    assert config_path(str(tmp_path / "flag.toml")) == tmp_path / "flag.toml"


def test_the_readme_example_is_a_valid_file(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    config = read_config(write(tmp_path, example))
    assert config.vim and set(config.profiles) == {"prod", "local"}


def test_an_absent_or_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert read_config(tmp_path / "nowhere.toml") == Config()
    assert read_config(write(tmp_path, "")) == Config()


def test_every_key_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
theme = "nord"
vim = true

[keymap]
new_user = "a"
request_log = "ctrl+l,f2"

[profiles.prod]
api_url = "https://deck.example:8443"
token_env = "PROD_TOKEN"

[profiles.dev]
api_url = "http://127.0.0.1:8000"
token = "dev-secret"
read_only = false
""",
    )
    config = read_config(path)
    assert config.theme == "nord" and config.vim
    assert config.profiles["prod"].read_only  # a profile is read-only unless it says not
    assert not config.profiles["dev"].read_only
    # The user's own keys win over the preset's.
    assert config.effective_keymap() == {
        **VIM_KEYMAP,
        "new_user": "a",
        "request_log": "ctrl+l,f2",
    }


def test_each_mistake_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
theme = "no-such-theme"
vim = "yes please"
colour = "red"

[keymap]
launch_missiles = "x"
new_user = "ctlr+n"
vim = true

[profiles.prod]
api_url = "https://deck.example"
token = "t"
token_env = "ALSO"

[profiles.anon]
read_only = false

[profiles.bad]
api_url = "ftp://example.com"

[profiles.leaky]
api_url = "https://admin:hunter2@deck.example"
""",
    )
    lines = mistakes(path)
    assert all(line.startswith(f"{path}: ") for line in lines)
    by_key = {line.removeprefix(f"{path}: ").split(": ", 1)[0]: line for line in lines}
    assert set(by_key) == {
        "theme",
        "vim",
        "colour",
        "keymap.launch_missiles",
        "keymap.new_user",
        "keymap.vim",
        "profiles.prod",
        "profiles.anon.api_url",
        "profiles.bad.api_url",
        "profiles.leaky.api_url",
    }, lines
    assert "unknown theme; one of:" in by_key["theme"] and "nord" in by_key["theme"]
    assert "boolean" in by_key["vim"]
    assert by_key["colour"].endswith("colour: unknown key")
    assert "unknown binding id" in by_key["keymap.launch_missiles"]
    assert "not a key: 'ctlr+n'" in by_key["keymap.new_user"]
    assert "`vim = true`, at the top level" in by_key["keymap.vim"]
    assert "token or token_env, not both" in by_key["profiles.prod"]
    assert by_key["profiles.anon.api_url"].endswith("missing (required)")
    assert "http:// or https://" in by_key["profiles.bad.api_url"]
    assert "no credentials in the URL" in by_key["profiles.leaky.api_url"]
    assert "hunter2" not in "\n".join(lines)


def test_broken_toml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'theme = "nord"\nvim = \n')
    assert mistakes(path) == [f"{path}: not valid TOML: Invalid value (at line 2, column 7)"]


@pytest.mark.parametrize("key", ["o", "ctrl+n", "f5", "question_mark", "shift+tab", "G", "slash"])
def test_keys_textual_binds_are_keys(key: str) -> None:
    assert is_key(key)


@pytest.mark.parametrize("key", ["", "ctlr+n", "control+x", "nosuchkey", "ctrl+"])
def test_typos_are_not_keys(key: str) -> None:
    assert not is_key(key)


def test_every_console_binding_has_an_id_the_keymap_accepts() -> None:
    ids = console_bindings()
    for expected in ("new_user", "migrate", "request_log", "search", "first", "next_match"):
        assert expected in ids
    assert set(VIM_KEYMAP) <= set(ids)


def test_profiles_resolve_their_token_or_say_which_variable_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path,
        '[profiles.ci]\napi_url = "http://127.0.0.1:1"\ntoken_env = "STACKDECK_TEST_TOKEN"\n',
    )
    config = read_config(path)
    monkeypatch.delenv("STACKDECK_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError) as caught:
        profile_token(path, "ci", config.profiles["ci"])
    assert caught.value.lines == [
        f"{path}: profiles.ci.token_env: environment variable STACKDECK_TEST_TOKEN is not set"
    ]
    monkeypatch.setenv("STACKDECK_TEST_TOKEN", "from-env")
    assert profile_token(path, "ci", config.profiles["ci"]) == "from-env"
    with pytest.raises(ConfigError) as unknown:
        pick_profile(path, config, "prod")
    assert unknown.value.lines == [f"{path}: no profile 'prod' (known: ci)"]


def test_show_config_masks_tokens_and_lists_every_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_TOKEN_VAR", raising=False)
    path = write(
        tmp_path,
        'vim = true\n[keymap]\nrefresh = "f5"\n'
        '[profiles.dev]\napi_url = "http://127.0.0.1:8000"\ntoken = "s3cret-value"\n'
        '[profiles.ci]\napi_url = "http://127.0.0.1:9000"\ntoken_env = "UNSET_TOKEN_VAR"\n',
    )
    text = "\n".join(show_config(path, read_config(path)))
    assert text.startswith(f"# config file: {path}\n")
    assert "s3cret-value" not in text and 'token = "***"' in text
    assert 'token_env = "UNSET_TOKEN_VAR"  # NOT SET' in text
    assert 'refresh = "f5"  # Refresh (default "r")' in text
    assert 'new_user = "o"  # New user (default "n")' in text  # the vim preset
    assert 'vim_down = "j"' in text
    for binding_id in console_bindings():
        assert f"\n{binding_id} = " in text

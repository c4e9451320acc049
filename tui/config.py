"""The console's config file (config.toml in the user config dir): where it is, reading it,
and one line per mistake. Every launch imports this module to look for the file; the schema
(config_model, Pydantic) and TOML are loaded only when there is one."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

if TYPE_CHECKING:
    from stackdeck.tui.config_model import Config, Profile

CONFIG_ENV = "STACKDECK_CONFIG"


def default_path() -> Path:
    """~/.config/stackdeck/config.toml on Linux (XDG_CONFIG_HOME honoured), per platformdirs."""
    return platformdirs.user_config_path("stackdeck") / "config.toml"


def config_path(explicit: str | None = None) -> Path:
    """--config, else STACKDECK_CONFIG, else the user config dir."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    return Path(chosen).expanduser() if chosen else default_path()


class ConfigError(Exception):
    """The file cannot be used: one line per mistake, each naming the file and the key."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def load_config(path: Path, *, themes: Collection[str], binding_ids: Collection[str]) -> Config:
    """Parse and validate the file; a missing file is the defaults. ConfigError lists mistakes."""
    import tomllib

    from pydantic import ValidationError

    from stackdeck.tui.config_model import Config, what, where

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read it: {exc}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    try:
        return Config.model_validate(data, context={"themes": themes, "binding_ids": binding_ids})
    except ValidationError as exc:
        # One line per key: a keymap entry with an unknown id says nothing of its value.
        lines: dict[str, str] = {}
        for error in exc.errors():
            lines.setdefault(where(error["loc"]), what(error))
        raise ConfigError([f"{path}: {key}: {what}" for key, what in lines.items()]) from None


def profile_token(path: Path, name: str, profile: Profile) -> str | None:
    """The profile's token; ConfigError when its token_env is not set."""
    try:
        return profile.resolved_token()
    except KeyError:
        variable = profile.token_env
        raise ConfigError(
            [f"{path}: profiles.{name}.token_env: environment variable {variable} is not set"]
        ) from None


def pick_profile(path: Path, config: Config, name: str) -> Profile:
    try:
        return config.profiles[name]
    except KeyError:
        known = ", ".join(sorted(config.profiles)) or "none: add [profiles.NAME] to the file"
        raise ConfigError([f"{path}: no profile {name!r} (known: {known})"]) from None


def render(path: Path, config: Config, bindings: Mapping[str, tuple[str, str]]) -> list[str]:
    """`stackdeck config`: the file's path, then the settings in effect as TOML (tokens
    masked); `bindings` maps every binding id to its default key and description."""
    found = path.is_file()
    lines = [f"# config file: {path}" + ("" if found else " (not found: the defaults)")]
    lines.append(f'theme = "{config.theme}"' if config.theme else "# theme: the default")
    lines.append(f"vim = {'true' if config.vim else 'false'}")
    lines += ["", "[keymap]  # every binding id, with its key in effect"]
    keymap = config.effective_keymap()
    for binding_id, (default, description) in bindings.items():
        key = keymap.get(binding_id, default)
        note = description + ("" if key == default else f' (default "{default}")')
        lines.append(f'{binding_id} = "{key}"  # {note}')
    for name, profile in sorted(config.profiles.items()):
        lines += ["", f"[profiles.{name}]", f'api_url = "{profile.api_url}"']
        if profile.token is not None:
            lines.append('token = "***"')
        if profile.token_env is not None:
            state = "set" if os.environ.get(profile.token_env) else "NOT SET"
            lines.append(f'token_env = "{profile.token_env}"  # {state}')
        lines.append(f"read_only = {'true' if profile.read_only else 'false'}")
    return lines

"""The console's config file (config.toml in the user config dir): theme, keymap, vim, profiles."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# Every launch imports this module to look for the file; what only reading one needs (TOML,
# key names, the models' validators: defer_build) is loaded when there is one.
CONFIG_ENV = "STACKDECK_CONFIG"
MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})

# `vim = true` turns on the console's vim_* bindings (j/k/h/l, gg, G) and the users pane's
# n/N, and moves the two keys they take: new user to o, the request log to L. Textual drops
# every binding on a rebound id's old key, so the vim bindings sharing n and l are named too.
VIM_KEYMAP = {
    "new_user": "o",
    "request_log": "L",
    "vim_right": "l",
    "next_match": "n",
}


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


def is_key(key: str) -> bool:
    """A key Textual can bind: `x`, `ctrl+s`, `f5`, `question_mark`, `shift+tab`…"""
    import unicodedata

    from textual.keys import KEY_ALIASES, KEY_TO_UNICODE_NAME, REPLACED_KEYS, Keys

    *modifiers, name = key.strip().split("+")
    if not name or not set(modifiers) <= MODIFIERS:
        return False
    if len(name) == 1 or name in KEY_ALIASES or name in KEY_TO_UNICODE_NAME:
        return True
    if name in {key.value for key in Keys}:
        return True
    try:
        unicodedata.lookup(REPLACED_KEYS.get(name, name).replace("_", " "))
    except KeyError:
        return False
    return True


# The names a file may use come from the console (load_config's context); a Config built in
# code, without a context, is trusted.
def _known_binding(binding_id: str, info: ValidationInfo) -> str:
    if info.context is None:
        return binding_id
    known: Collection[str] = info.context["binding_ids"]
    if binding_id == "vim":
        raise ValueError("unknown binding id (the preset is `vim = true`, at the top level)")
    if binding_id not in known:
        raise ValueError("unknown binding id (`stackdeck config` lists them all)")
    return binding_id


def _keys(value: str) -> str:
    bad = [key for key in value.split(",") if not is_key(key)]
    if bad:
        raise ValueError(f"not a key: {', '.join(repr(k) for k in bad)} (e.g. 'o', 'ctrl+n')")
    return ",".join(key.strip() for key in value.split(","))


class Profile(BaseModel):
    """A backend the console can open by name: `stackdeck --profile NAME`, or the palette."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    api_url: str
    token: SecretStr | None = None
    token_env: str | None = Field(default=None, min_length=1)
    read_only: bool = True  # a named backend is often someone's production: opt in to writes

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL, e.g. http://127.0.0.1:8000")
        if parts.username or parts.password:
            # It would be shown in the header and by `stackdeck config`.
            raise ValueError("no credentials in the URL: use token or token_env")
        return url

    @model_validator(mode="before")
    @classmethod
    def _one_token_source(cls, data: Any) -> Any:
        # On the raw table: an after-validator would stay silent while another field is wrong.
        if isinstance(data, dict) and "token" in data and "token_env" in data:
            raise ValueError("set token or token_env, not both")
        return data

    def resolved_token(self) -> str | None:
        """The token itself; None without one. KeyError: token_env names an unset variable."""
        if self.token_env is not None:
            value = os.environ.get(self.token_env)
            if not value:
                raise KeyError(self.token_env)
            return value
        return self.token.get_secret_value() if self.token is not None else None


class Config(BaseModel):
    """Everything is optional: an empty (or absent) file is the console's defaults."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    theme: str | None = None
    vim: bool = False
    keymap: dict[
        Annotated[str, AfterValidator(_known_binding)], Annotated[str, AfterValidator(_keys)]
    ] = Field(default_factory=dict)
    profiles: dict[str, Profile] = Field(default_factory=dict)

    @field_validator("theme")
    @classmethod
    def _known_theme(cls, theme: str | None, info: ValidationInfo) -> str | None:
        if info.context is None:
            return theme
        themes: Collection[str] = info.context["themes"]
        if theme is not None and theme not in themes:
            raise ValueError(f"unknown theme; one of: {', '.join(sorted(themes))}")
        return theme

    def effective_keymap(self) -> dict[str, str]:
        """What the console hands to App.set_keymap: the vim preset under the user's own keys."""
        return {**(VIM_KEYMAP if self.vim else {}), **self.keymap}


def _where(loc: tuple[int | str, ...]) -> str:
    # A dict key's own error ends in "[key]": the key is the entry before it.
    parts = [str(part) for part in loc if part != "[key]"]
    return ".".join(parts) or "(top level)"


def _what(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing (required)"
    return str(error["msg"]).removeprefix("Value error, ")


def load_config(path: Path, *, themes: Collection[str], binding_ids: Collection[str]) -> Config:
    """Parse and validate the file; a missing file is the defaults. ConfigError lists mistakes."""
    import tomllib

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
            lines.setdefault(_where(error["loc"]), _what(error))
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

"""The config file's schema (Pydantic): what each key accepts, checked against the console's
own themes and binding ids. Imported only when there is a file to read (or to show): a launch
without one needs none of it."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

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


def where(loc: tuple[int | str, ...]) -> str:
    # A dict key's own error ends in "[key]": the key is the entry before it.
    parts = [str(part) for part in loc if part != "[key]"]
    return ".".join(parts) or "(top level)"


def what(error: Mapping[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "missing":
        return "missing (required)"
    return str(error["msg"]).removeprefix("Value error, ")

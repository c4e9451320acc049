"""Opaque keyset cursors: the sort key of a page's last row, tagged with its sort.

A cursor is base64url of a small JSON object, `{"v": 1, "sort": "-name", "key": [...]}`;
a `prev` (the page before a row) says so with `"before": true`.
It is the client's to hold, never to trust: one that does not decode, carries another
version or another sort, or whose key values have the wrong types is refused, naming the
parameter, before any SQL sees it.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from stackdeck.backend.errors import FieldError, InvalidInput
from stackdeck.backend.schemas.common import Start
from stackdeck.backend.schemas.types import MAX_BIGINT

VERSION = 1
# The types a sort key may hold, per position: the sort column's, then the id.
KeyType = Literal["int", "count", "text", "timestamp"]
# Longest text a key can hold (emails are the longest sortable text); a bound on the token.
_TEXT_MAX = 320
CURSOR_MAX_LENGTH = 2048


def _encoded(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def encode(sort: str, key: Sequence[Any], *, before: bool = False) -> str:
    fields: dict[str, Any] = {"v": VERSION, "sort": sort, "key": [_encoded(v) for v in key]}
    if before:
        fields["before"] = True
    body = json.dumps(fields, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).rstrip(b"=").decode()


def _refused(message: str, parameter: str) -> InvalidInput:
    return InvalidInput(
        f"{parameter}: {message}", [FieldError(field=f"query.{parameter}", message=message)]
    )


def _typed(value: Any, kind: KeyType) -> Any:
    """The key value as its column holds it, or ValueError."""
    if kind in ("int", "count"):
        least = 0 if kind == "count" else 1
        # type(), not isinstance: bool is an int to Python, never to a cursor.
        if type(value) is not int or not least <= value <= MAX_BIGINT:
            raise ValueError
        return value
    if kind == "text":
        if not isinstance(value, str) or len(value) > _TEXT_MAX or "\x00" in value:
            raise ValueError
        return value
    if not isinstance(value, str):
        raise ValueError
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError from None


_FIELDS = frozenset({"v", "sort", "key"})


def decode(token: str, sort: str, kinds: Sequence[KeyType], parameter: str = "cursor") -> Start:
    """Where a cursor of ours for this sort starts, or InvalidInput naming `parameter`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise _refused("not a cursor this API handed out", parameter) from None
    ours = isinstance(body, dict) and body.keys() in (_FIELDS, _FIELDS | {"before"})
    if ours and body.get("before", True) is not True:
        ours = False
    if not ours or type(body["v"]) is not int or body["v"] != VERSION:
        raise _refused("not a cursor this API handed out", parameter)
    if body["sort"] != sort:
        raise _refused(
            f"this cursor belongs to sort={body['sort']!s:.40}, not sort={sort}", parameter
        )
    key = body["key"]
    if not isinstance(key, list) or len(key) != len(kinds):
        raise _refused("not a cursor this API handed out", parameter)
    try:
        typed = tuple(_typed(value, kind) for value, kind in zip(key, kinds, strict=True))
    except ValueError:
        raise _refused("not a cursor this API handed out", parameter) from None
    return Start(typed, before="before" in body)

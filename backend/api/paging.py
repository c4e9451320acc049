"""Sorted keyset pages over HTTP: `sort` and `order`, where a page starts, its `next` and
its `prev`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import Query

from stackdeck.backend.errors import FieldError, InvalidInput
from stackdeck.backend.schemas import cursor
from stackdeck.backend.schemas.common import Sort, Start
from stackdeck.backend.schemas.types import MAX_BIGINT

# Where a sorted list's page starts: one of the two, named the same on every list.
AfterQuery = Annotated[
    int | None, Query(ge=0, le=MAX_BIGINT, description="in id order: the id to start after")
]
CursorQuery = Annotated[
    str | None,
    Query(
        alias="cursor",
        max_length=cursor.CURSOR_MAX_LENGTH,
        description=(
            "the `next` of the page before (or the `prev` of the page after), for the same `sort`"
        ),
    ),
]


def refused(parameter: str, message: str) -> InvalidInput:
    return InvalidInput(f"{parameter}: {message}", [FieldError(f"query.{parameter}", message)])


def sort_of(sort: str, order: str) -> Sort:
    """`sort=-name`, or `sort=name&order=desc` (the spelling id order always had)."""
    if order == "desc" and sort.startswith("-"):
        raise refused("order", "give the direction once: sort=-COLUMN or order=desc")
    return Sort(sort.removeprefix("-"), descending=sort.startswith("-") or order == "desc")


def start_of(
    sort: Sort,
    after: int | None,
    token: str | None,
    key_kinds: Mapping[str, Sequence[cursor.KeyType]],
) -> Start | None:
    """Where a page starts: `after` (an id, in id order) or a cursor we handed out."""
    if after is not None and token is not None:
        raise refused("cursor", "give after or cursor, not both")
    if after is not None:
        if sort.column != "id":
            raise refused(
                "after", f"after is an id, for id order; with sort={sort.name} pass cursor"
            )
        return Start((after,))
    if token is None:
        return None
    if sort.column == "id" and token.isascii() and token.isdigit():
        # In id order `next` is the last id itself; as a cursor it means the same.
        row_id = int(token)
        if not 1 <= row_id <= MAX_BIGINT:
            raise refused("cursor", "not a cursor this API handed out")
        return Start((row_id,))
    return cursor.decode(token, sort.name, key_kinds[sort.column])


def next_of(sort: Sort, key: tuple[Any, ...] | None) -> int | str | None:
    """A page's `next`: the last id in id order (as `after` always took), else a cursor."""
    if key is None:
        return None
    if sort.column == "id":
        return int(key[0])
    return cursor.encode(sort.name, key)


def prev_of(sort: Sort, key: tuple[Any, ...] | None) -> str | None:
    """A page's `prev`: a cursor in every order (an id alone already means "after")."""
    return None if key is None else cursor.encode(sort.name, key, before=True)

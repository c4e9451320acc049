"""Keyset pages: queries fetch one row more than asked, which says whether more follow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import TypeVar

Row = TypeVar("Row")
Key = TypeVar("Key")


def split_page(
    rows: Sequence[Row], limit: int, cursor_of: Callable[[Row], Key] = attrgetter("id")
) -> tuple[Sequence[Row], Key | None]:
    """The page and the cursor for the next one (None on the last page)."""
    if len(rows) > limit:
        return rows[:limit], cursor_of(rows[limit - 1])
    return rows, None

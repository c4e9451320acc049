"""Keyset pages: queries fetch one row more than asked, which says whether more follow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class HasId(Protocol):
    id: int


Row = TypeVar("Row", bound=HasId)


def split_page(rows: Sequence[Row], limit: int) -> tuple[Sequence[Row], int | None]:
    """The page and the cursor for the next one (None on the last page)."""
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None

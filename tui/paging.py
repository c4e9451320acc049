"""A bounded window over a keyset-paginated list: the rows held, and the cursors at both ends.

The users table never holds more than `capacity` rows: scrolling down fetches the next page
after the last id and drops rows from the top; scrolling up fetches the page before the first
id (order=desc) and drops rows from the bottom. `g`/`G` replace the window with the first or
the last page, so neither end is ever reached by scanning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


@dataclass
class KeysetWindow:
    page_size: int = 100
    capacity: int = 500
    rows: list[Row] = field(default_factory=list)
    at_start: bool = True  # nothing before rows[0]
    at_end: bool = True  # nothing after rows[-1]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def first_id(self) -> int | None:
        return int(self.rows[0]["id"]) if self.rows else None

    @property
    def last_id(self) -> int | None:
        return int(self.rows[-1]["id"]) if self.rows else None

    def reset_first(self, items: list[Row], next_cursor: int | None) -> None:
        """The first page (order=asc from the start)."""
        self.rows = list(items)
        self.at_start = True
        self.at_end = next_cursor is None

    def reset_last(self, items_desc: list[Row], next_cursor: int | None) -> None:
        """The last page, as fetched with order=desc (newest first)."""
        self.rows = list(reversed(items_desc))
        self.at_end = True
        self.at_start = next_cursor is None

    def reset_from(self, items: list[Row], next_cursor: int | None) -> None:
        """A page starting somewhere in the middle (e.g. at a given id)."""
        self.rows = list(items)
        self.at_start = False
        self.at_end = next_cursor is None

    def extend_down(self, items: list[Row], next_cursor: int | None) -> int:
        """Append the page after the last row; returns how many rows fell off the top."""
        self.rows.extend(items)
        self.at_end = next_cursor is None
        dropped = max(0, len(self.rows) - self.capacity)
        if dropped:
            del self.rows[:dropped]
            self.at_start = False
        return dropped

    def extend_up(self, items_desc: list[Row], next_cursor: int | None) -> int:
        """Prepend the page before the first row (fetched order=desc); returns rows added."""
        added = list(reversed(items_desc))
        self.rows[:0] = added
        self.at_start = next_cursor is None
        overflow = len(self.rows) - self.capacity
        if overflow > 0:
            del self.rows[-overflow:]
            self.at_end = False
        return len(added)

    def index_of(self, row_id: int) -> int | None:
        for index, row in enumerate(self.rows):
            if int(row["id"]) == row_id:
                return index
        return None

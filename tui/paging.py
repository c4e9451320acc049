"""A bounded window over a keyset-paginated list, in any order: the pages held, and how to
fetch the pages on either side of them.

The users table holds `capacity` rows and at most a page more. Every page the API gives
carries two cursors, `next` (the rows past its last row) and `prev` (the rows before its
first), so the page on either side of the window is always found from the page at that
end: a page that falls off is dropped whole, and scrolling back fetches it again by the
`prev` (or `next`) of the page that is now at the end. What is kept is the pages on screen
and nothing per page scrolled past, however far one goes.

`G` asks for the reverse order's first page and turns it round: the end of the list without
a scan. Pages read that way stay in the reverse order (their cursors belong to it), so for
them `prev` leads down the view and `next` up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stackdeck.tui.client import User


@dataclass(frozen=True, slots=True)
class Fetch:
    """How a page is asked for: from `cursor` (None: an end of the list), in the view's order
    or, `reverse`, in the reverse order (whose pages are turned round)."""

    cursor: str | None
    reverse: bool = False


@dataclass(slots=True)
class Page:
    rows: list[User]  # in the view's order (a reverse-order page is already turned round)
    fetch: Fetch
    next: str | None  # the API's cursors, in the fetch's order
    prev: str | None = None

    def _towards(self, cursor: str | None) -> Fetch | None:
        return None if cursor is None else Fetch(cursor, self.fetch.reverse)

    @property
    def up(self) -> Fetch | None:
        """The fetch of the page before this one in the view; None: the list starts here."""
        return self._towards(self.next if self.fetch.reverse else self.prev)

    @property
    def down(self) -> Fetch | None:
        """The fetch of the page after this one in the view; None: the list ends here."""
        return self._towards(self.prev if self.fetch.reverse else self.next)


@dataclass
class KeysetWindow:
    page_size: int = 100
    capacity: int = 500
    pages: list[Page] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(page.rows) for page in self.pages)

    @property
    def rows(self) -> list[User]:
        return [row for page in self.pages for row in page.rows]

    @property
    def first_id(self) -> int | None:
        rows = self.rows
        return rows[0].id if rows else None

    @property
    def last_id(self) -> int | None:
        rows = self.rows
        return rows[-1].id if rows else None

    def fetch_up(self) -> Fetch | None:
        """The fetch of the page before the first row; None at the start of the list."""
        return self.pages[0].up if self.pages else None

    def fetch_down(self) -> Fetch | None:
        """The fetch of the page after the last row; None at the end of the list."""
        return self.pages[-1].down if self.pages else None

    @property
    def at_start(self) -> bool:
        return self.fetch_up() is None

    @property
    def at_end(self) -> bool:
        return self.fetch_down() is None

    def reset(self, page: Page) -> None:
        """One page, and nothing around it but what its cursors say (g, G, a refresh)."""
        self.pages = [page]

    def extend_down(self, page: Page) -> int:
        """Append the page after the last row; returns how many rows fell off the top."""
        self.pages.append(page)
        dropped = 0
        # Whole pages go, and only while `capacity` rows stay: the cursor, at the new end,
        # is then never near the other end (which would fetch back what was dropped).
        while len(self.pages) > 1 and len(self) - len(self.pages[0].rows) >= self.capacity:
            dropped += len(self.pages.pop(0).rows)
        return dropped

    def extend_up(self, page: Page) -> int:
        """Prepend the page before the first row; returns how many rows it added."""
        self.pages.insert(0, page)
        while len(self.pages) > 1 and len(self) - len(self.pages[-1].rows) >= self.capacity:
            self.pages.pop()
        return len(page.rows)

    def index_of(self, row_id: int) -> int | None:
        for index, row in enumerate(self.rows):
            if row.id == row_id:
                return index
        return None


def page_of(rows: Sequence[User], fetch: Fetch, following: str | None, before: str | None) -> Page:
    """A page as the API gave it (its `next` and `prev`); a reverse-order page is turned
    round into the view's order."""
    ordered = list(reversed(rows)) if fetch.reverse else list(rows)
    return Page(ordered, fetch, following, before)

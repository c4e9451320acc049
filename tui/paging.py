"""A bounded window over a keyset-paginated list, in any order: the pages held, and how to
fetch the pages on either side of them.

The users table holds `capacity` rows and at most a page more. Every page is fetched by a
cursor from the API, walking the view's order forwards or backwards (the reverse sort,
whose rows are then turned round): the page after the last row continues from the bottom
page's forward `next`, the page before the first row from the top page's backward `next`.
A page that falls off one end is remembered by the fetch that brought it (one cursor), so
scrolling back refetches it: a cursor per page scrolled past is what is kept, since the API
hands out no cursor for the rows before a row. `g`/`G` replace the window with the first
page, or the reverse order's first page turned round, so neither end is ever reached by
scanning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stackdeck.tui.client import User


@dataclass(frozen=True, slots=True)
class Fetch:
    """How a page is asked for: from `cursor` (None: an end of the list), forwards or back."""

    cursor: str | None
    backwards: bool = False


@dataclass(slots=True)
class Page:
    rows: list[User]  # in the view's order (a backwards page is already turned round)
    fetch: Fetch
    next: str | None  # where the list goes on past this page, in the fetch's direction

    @property
    def beyond(self) -> Fetch | None:
        """The fetch of the page past this one, in its own direction; None: the list ends."""
        return None if self.next is None else Fetch(self.next, self.fetch.backwards)


@dataclass
class KeysetWindow:
    page_size: int = 100
    capacity: int = 500
    pages: list[Page] = field(default_factory=list)
    # The fetches of the pages that fell off the top (the nearest last), and the bottom.
    above: list[Fetch] = field(default_factory=list)
    below: list[Fetch] = field(default_factory=list)

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
        if self.above:
            return self.above[-1]
        if not self.pages:
            return None
        top = self.pages[0]
        if top.fetch.backwards:
            return top.beyond
        return None  # a forward page from the start (or from a cursor we keep in `above`)

    def fetch_down(self) -> Fetch | None:
        """The fetch of the page after the last row; None at the end of the list."""
        if self.below:
            return self.below[-1]
        if not self.pages:
            return None
        bottom = self.pages[-1]
        return None if bottom.fetch.backwards else bottom.beyond

    @property
    def at_start(self) -> bool:
        return self.fetch_up() is None

    @property
    def at_end(self) -> bool:
        return self.fetch_down() is None

    def reset(self, page: Page) -> None:
        """One page, and nothing known around it but what it says itself (g, G, a view)."""
        self.pages = [page]
        self.above.clear()
        self.below.clear()

    def collapse(self, page: Page) -> None:
        """Refetched top page in place of the window (a refresh): the pages below it stay
        reachable by their fetches."""
        for dropped in reversed(self.pages[1:]):
            self.below.append(dropped.fetch)
        self.pages = [page]

    def extend_down(self, page: Page) -> int:
        """Append the page after the last row; returns how many rows fell off the top."""
        if self.below and self.below[-1] == page.fetch:
            self.below.pop()
        self.pages.append(page)
        dropped = 0
        # Whole pages go, and only while `capacity` rows stay: the cursor, at the new end,
        # is then never near the other end (which would fetch back what was dropped).
        while len(self.pages) > 1 and len(self) - len(self.pages[0].rows) >= self.capacity:
            gone = self.pages.pop(0)
            self.above.append(gone.fetch)
            dropped += len(gone.rows)
        return dropped

    def extend_up(self, page: Page) -> int:
        """Prepend the page before the first row; returns how many rows it added."""
        if self.above and self.above[-1] == page.fetch:
            self.above.pop()
        self.pages.insert(0, page)
        while len(self.pages) > 1 and len(self) - len(self.pages[-1].rows) >= self.capacity:
            gone = self.pages.pop()
            self.below.append(gone.fetch)
        return len(page.rows)

    def index_of(self, row_id: int) -> int | None:
        for index, row in enumerate(self.rows):
            if row.id == row_id:
                return index
        return None


def page_of(rows: Sequence[User], fetch: Fetch, following: str | None) -> Page:
    """A page as the API gave it; a backwards page is turned round into the view's order."""
    ordered = list(reversed(rows)) if fetch.backwards else list(rows)
    return Page(ordered, fetch, following)

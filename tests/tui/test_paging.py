"""The keyset window alone (no backend): what it keeps, and the fetches on either side."""

from __future__ import annotations

from stackdeck.tui.client import User
from stackdeck.tui.paging import Fetch, KeysetWindow, page_of


def users(*ids: int) -> list[User]:
    return [User(i, f"U{i}", f"u{i}@example.com", 0, "", "") for i in ids]


def test_a_page_that_falls_off_is_fetched_back_by_the_cursor_that_brought_it() -> None:
    window = KeysetWindow(page_size=2, capacity=4)
    window.reset(page_of(users(1, 2), Fetch(None), "c2"))
    assert window.at_start and window.fetch_down() == Fetch("c2")
    for start, following in (("c2", "c4"), ("c4", "c6")):
        first = int(start[1:]) + 1
        window.extend_down(page_of(users(first, first + 1), Fetch(start), following))
    # Six rows came, four stay; the first page is remembered by its fetch, not its rows.
    assert [u.id for u in window.rows] == [3, 4, 5, 6]
    assert window.above == [Fetch(None)] and window.fetch_up() == Fetch(None)
    window.extend_up(page_of(users(1, 2), Fetch(None), "c2"))
    assert [u.id for u in window.rows] == [1, 2, 3, 4] and window.at_start
    assert window.below == [Fetch("c4")] and window.fetch_down() == Fetch("c4")


def test_from_the_end_pages_before_come_backwards_and_are_turned_round() -> None:
    window = KeysetWindow(page_size=2, capacity=4)
    # The reverse order's first page (9, 8): shown as 8, 9, with nothing after it.
    window.reset(page_of(users(9, 8), Fetch(None, backwards=True), "b8"))
    assert [u.id for u in window.rows] == [8, 9] and window.at_end and not window.at_start
    assert window.fetch_up() == Fetch("b8", backwards=True)
    window.extend_up(page_of(users(7, 6), Fetch("b8", backwards=True), None))
    assert [u.id for u in window.rows] == [6, 7, 8, 9] and window.at_start and window.at_end

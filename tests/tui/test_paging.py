"""The keyset window alone (no backend): what it keeps, and the fetches on either side."""

from __future__ import annotations

from dataclasses import fields

from stackdeck.tui.client import User
from stackdeck.tui.paging import Fetch, KeysetWindow, page_of


def users(*ids: int) -> list[User]:
    return [User(i, f"U{i}", f"u{i}@example.com", 0, "", "") for i in ids]


def test_a_page_that_falls_off_is_fetched_back_by_the_prev_of_the_page_at_the_top() -> None:
    window = KeysetWindow(page_size=2, capacity=4)
    window.reset(page_of(users(1, 2), Fetch(None), "n2", None))
    assert window.at_start and window.fetch_down() == Fetch("n2")
    for start, following in (("n2", "n4"), ("n4", "n6")):
        first = int(start[1:]) + 1
        window.extend_down(page_of(users(first, first + 1), Fetch(start), following, f"p{first}"))
    # Six rows came, four stay; the first page is gone whole, nothing of it kept.
    assert [u.id for u in window.rows] == [3, 4, 5, 6] and len(window.pages) == 2
    assert window.fetch_up() == Fetch("p3")
    window.extend_up(page_of(users(1, 2), Fetch("p3"), "n2", None))
    assert [u.id for u in window.rows] == [1, 2, 3, 4] and window.at_start
    assert window.fetch_down() == Fetch("n4")


def test_from_the_end_pages_before_come_in_the_reverse_order_and_are_turned_round() -> None:
    window = KeysetWindow(page_size=2, capacity=4)
    # The reverse order's first page (9, 8): shown as 8, 9, with nothing after it.
    window.reset(page_of(users(9, 8), Fetch(None, reverse=True), "r8", None))
    assert [u.id for u in window.rows] == [8, 9] and window.at_end and not window.at_start
    assert window.fetch_up() == Fetch("r8", reverse=True)
    window.extend_up(page_of(users(7, 6), Fetch("r8", reverse=True), None, "q7"))
    assert [u.id for u in window.rows] == [6, 7, 8, 9] and window.at_start and window.at_end
    # The top page's `prev` in the reverse order is the way down the view again.
    assert window.pages[0].down == Fetch("q7", reverse=True)


def test_the_window_keeps_its_pages_and_nothing_else() -> None:
    # No per-page history: whatever the depth, the pages on screen are all there is.
    assert {f.name for f in fields(KeysetWindow)} == {"page_size", "capacity", "pages"}

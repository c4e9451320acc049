"""Keyset pages: queries fetch one row more than asked, which says whether more follow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Generic, TypeVar

from stackdeck.backend.schemas.common import Sort, Start

Row = TypeVar("Row")
Key = TypeVar("Key")
Body = TypeVar("Body")

# Rows an export reads per statement: round trips stay few, memory holds a chunk or two.
EXPORT_CHUNK_ROWS = 5_000


def split_page(
    rows: Sequence[Row], limit: int, cursor_of: Callable[[Row], Key] = attrgetter("id")
) -> tuple[Sequence[Row], Key | None]:
    """The page and the cursor for the next one (None on the last page)."""
    if len(rows) > limit:
        return rows[:limit], cursor_of(rows[limit - 1])
    return rows, None


@dataclass(frozen=True, slots=True)
class Edges:
    """The sort keys a page's neighbours are found from: its last row's (the next page
    starts past it) and its first row's (the page before ends before it); None where the
    list ends on that side."""

    next: tuple[Any, ...] | None
    prev: tuple[Any, ...] | None


def read_order(sort: Sort, start: Start | None) -> Sort:
    """The order a page's statement reads in: the page before a row is the first rows
    past it in the reverse order (its index serves both), turned round by `sorted_page`."""
    return sort.reversed() if start is not None and start.before else sort


def sorted_page(
    rows: Sequence[Row], limit: int, start: Start | None, key: Callable[[Row], tuple[Any, ...]]
) -> tuple[Sequence[Row], Edges]:
    """The page in the list's order from `limit + 1` rows read in `read_order`, and its
    edges. Past a row there was at least that row before it; before a row, that row after.
    """
    more = len(rows) > limit
    page = rows[:limit]
    if start is not None and start.before:
        page = page[::-1]
        return page, Edges(key(page[-1]) if page else None, key(page[0]) if more else None)
    after_a_row = start is not None and bool(page)
    return page, Edges(key(page[-1]) if more else None, key(page[0]) if after_a_row else None)


def key_of(columns: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """A record's sort key: its values of these columns."""
    return lambda row: tuple(row[name] for name in columns)


@dataclass(frozen=True, slots=True)
class Chunk(Generic[Body]):
    """One statement's share of an export: what is sent, how many rows it holds, and the
    sort key of its last row (None when it holds none)."""

    body: Body
    rows: int
    last_key: tuple[Any, ...] | None


def rows_chunk(rows: list[Row], key: Callable[[Row], tuple[Any, ...]]) -> Chunk[list[Row]]:
    return Chunk(rows, len(rows), key(rows[-1]) if rows else None)


def csv_chunk(record: Any) -> Chunk[bytes]:
    """From the one row of repositories.keyset.csv_chunk: records, rows, last0, last1, …"""
    rows = int(record["rows"])
    last = tuple(record[f"last{i}"] for i in range(len(record) - 2)) if rows else None
    return Chunk(record["records"] or b"", rows, last)


async def keyset_chunks(
    read: Callable[[tuple[Any, ...] | None], Coroutine[Any, Any, Chunk[Body]]],
    chunk_rows: int,
) -> AsyncIterator[Body]:
    """Every row, `read(start)` a chunk of `chunk_rows` at a time past the sort key `start`;
    the next chunk is read while the caller handles this one.

    Each `read` is its own statement (and, for the callers, its own checked-out
    connection): not one snapshot, but no row comes twice and none that was there
    throughout is missed, since each chunk starts past the last row of the one before.
    """
    pending: asyncio.Task[Chunk[Body]] | None = asyncio.create_task(read(None))
    try:
        while pending is not None:
            chunk = await pending
            pending = None
            if chunk.rows == chunk_rows:
                pending = asyncio.create_task(read(chunk.last_key))
            if chunk.rows:
                yield chunk.body
    finally:
        if pending is not None:  # the consumer went away: the read's connection goes back
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending

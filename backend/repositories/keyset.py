"""The one keyset page statement every sortable list uses: rows past a sort key, in order;
and the same page as one CSV chunk for an export."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg


def keyset_page(
    columns: Iterable[Any],
    keys: Sequence[ColumnElement[Any]],
    conditions: Iterable[ColumnElement[bool]],
    *,
    descending: bool,
    from_key: bool,
) -> Select[Any]:
    """`columns` of the rows matching `conditions`, ordered by `keys` (the sort column, then
    id), starting past the bound parameters key0, key1, … when `from_key`; at most `limit`."""
    stmt = select(*columns).where(*conditions)
    stmt = stmt.order_by(*(key.desc() if descending else key for key in keys))
    if from_key:
        # A row-value comparison: the index on (column, id) starts its range scan there.
        bound = tuple_(*(bindparam(f"key{i}", type_=k.type) for i, k in enumerate(keys)))
        position = tuple_(*keys)
        stmt = stmt.where(position < bound if descending else position > bound)
    return stmt.limit(bindparam("limit", type_=BigInteger))


def csv_instant(column: str) -> str:
    """SQL for a timestamptz column as a CSV field: ISO 8601 with a space, in UTC (`+00`),
    as PostgreSQL writes it. Through `timestamp` (AT TIME ZONE), not timestamptz's own text:
    that looks the session's zone up for every value, and two of them cost an export's
    statement more than the rest of the record."""
    return f"(({column}) AT TIME ZONE 'UTC')::text || '+00'"


def csv_chunk(
    page: Select[Any], keys: Sequence[ColumnElement[Any]], *, descending: bool
) -> Select[Any]:
    """A keyset page of `(*keys, csv_record)` as one row: its records joined by PostgreSQL,
    each ending in CRLF, as UTF-8 bytes (`records`), how many (`rows`), and the sort key of
    the last (`last0`, `last1`, …) for the next chunk to start past.

    The aggregates' ORDER BY is the page's own (PostgreSQL 16 takes the page's ordered
    output as it comes, no second sort); the driver then decodes one value, not a record a
    row, and Python only forwards the bytes.
    """
    rows = page.subquery("chunk")
    ordered = [rows.c[key.name] for key in keys]
    order = [column.desc() if descending else column for column in ordered]
    records = func.string_agg(
        rows.c.csv_record.concat(literal_column("E'\\r\\n'")),
        aggregate_order_by(literal_column("''"), *order),
    )
    count = func.count()
    if len(ordered) == 1:  # id order: the last id is the greatest (or least), no array
        last = [(func.min if descending else func.max)(ordered[0]).label("last0")]
    else:
        last = [
            array_agg(aggregate_order_by(column, *order))[count].label(f"last{i}")  # type: ignore[no-untyped-call]
            for i, column in enumerate(ordered)
        ]
    return select(
        func.convert_to(records, literal_column("'UTF8'")).label("records"),
        count.label("rows"),
        *last,
    )

"""The one keyset page statement every sortable list uses: rows past a sort key, in order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, bindparam, select, tuple_


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

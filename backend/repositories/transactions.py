"""Queries on the transaction log (read path): keyset pages, the newest id, per-second counts."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Integer, Table, bindparam, func, select, text

from stackdeck.backend.db.models import TransactionLog
from stackdeck.backend.db.reads import Reader, ReadStatement, Record

_log = cast(Table, TransactionLog.__table__)

_PER_SECOND = ReadStatement.compile(
    text(
        """
        SELECT second,
               count(t.id) FILTER (WHERE t.outcome = 'committed') AS committed,
               count(t.id) FILTER (WHERE t.outcome = 'rolled_back') AS rolled_back
        FROM generate_series(
            date_trunc('second', clock_timestamp()) - (:window - 1) * interval '1 second',
            date_trunc('second', clock_timestamp()),
            interval '1 second'
        ) AS second
        LEFT JOIN transaction_log AS t
            ON t.occurred_at >= second AND t.occurred_at < second + interval '1 second'
        GROUP BY second
        ORDER BY second
        """
    ).bindparams(bindparam("window", type_=Integer))
)
# A logged outcome as lists and the stream show it; the X-ray's columns only in the detail.
_X_RAY = ("statements", "changes")
_LISTED = [column for column in _log.c if column.name not in _X_RAY]
_DETAIL = ReadStatement.compile(
    select(_log).where(_log.c.id == bindparam("transaction_id", type_=BigInteger))
)
_NEWEST_ID = ReadStatement.compile(select(func.max(_log.c.id)))
_TOTALS = ReadStatement.compile(
    select(_log.c.outcome, func.count().label("count")).group_by(_log.c.outcome)
)


@functools.cache
def _page_statement(after: bool, descending: bool) -> ReadStatement:
    """Each shape of page is compiled once, on first use (four shapes in all)."""
    stmt = select(*_LISTED).limit(bindparam("limit", type_=BigInteger))
    stmt = stmt.order_by(_log.c.id.desc() if descending else _log.c.id)
    if after:
        cursor = bindparam("after", type_=BigInteger)
        stmt = stmt.where(_log.c.id < cursor if descending else _log.c.id > cursor)
    return ReadStatement.compile(stmt)


class TransactionRows:
    """Read-only queries on the log, on a read connection; they return records."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def page_after(self, after: int | None, limit: int, descending: bool) -> list[Record]:
        statement = _page_statement(after is not None, descending)
        return await self.reader.fetch(statement, limit=limit, after=after)

    async def with_xray(self, transaction_id: int) -> Record | None:
        rows = await self.reader.fetch(_DETAIL, transaction_id=transaction_id)
        return rows[0] if rows else None

    async def newest_id(self) -> int:
        return int((await self.reader.fetch(_NEWEST_ID))[0][0] or 0)

    async def per_second(self, window: int) -> list[tuple[datetime, int, int]]:
        rows = await self.reader.fetch(_PER_SECOND, window=window)
        return [(row["second"], row["committed"], row["rolled_back"]) for row in rows]

    async def totals(self) -> dict[str, int]:
        return {row["outcome"]: row["count"] for row in await self.reader.fetch(_TOTALS)}

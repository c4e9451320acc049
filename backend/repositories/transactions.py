"""Queries on the transaction log: keyset pages, replay after an id, per-second counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from stackdeck.backend.db.models import TransactionLog

_PER_SECOND = text(
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
).bindparams(bindparam("window", type_=None))


class TransactionsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page_after(
        self, after: int | None, limit: int, descending: bool
    ) -> Sequence[TransactionLog]:
        stmt = select(TransactionLog).limit(limit)
        stmt = stmt.order_by(TransactionLog.id.desc() if descending else TransactionLog.id)
        if after is not None:
            stmt = stmt.where(
                TransactionLog.id < after if descending else TransactionLog.id > after
            )
        return (await self.session.scalars(stmt)).all()

    async def with_xray(self, transaction_id: int) -> TransactionLog | None:
        stmt = (
            select(TransactionLog)
            .options(undefer(TransactionLog.statements), undefer(TransactionLog.changes))
            .where(TransactionLog.id == transaction_id)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def newest_id(self) -> int:
        return int(await self.session.scalar(select(func.max(TransactionLog.id))) or 0)

    async def per_second(self, window: int) -> list[tuple[datetime, int, int]]:
        result = await self.session.execute(_PER_SECOND, {"window": window})
        return [(row.second, row.committed, row.rolled_back) for row in result]

    async def totals(self) -> dict[str, int]:
        stmt = select(TransactionLog.outcome, func.count()).group_by(TransactionLog.outcome)
        return {outcome: count for outcome, count in await self.session.execute(stmt)}

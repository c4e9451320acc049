"""The unit of work: every write commits whole or rolls back whole, and says which.

A committed outcome is recorded in the same transaction as the data it describes; a
rolled-back one in its own short transaction after the rollback. A write sent with an
Idempotency-Key runs under its contract (claim, run, store the answer, or replay it) in that
same transaction. Services hand `write()` their work and its result type, and cannot forget
any of it: what the work returns is what gets stored and replayed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.db.errors import DATABASE_FAILURES, infrastructure_error
from stackdeck.backend.db.reads import ReadPool
from stackdeck.backend.errors import DomainError, Unavailable
from stackdeck.backend.metrics import current_metrics
from stackdeck.backend.services.idempotency import IdempotentWrite
from stackdeck.backend.services.outcomes import OutcomeRecord, Result, record_outcome

log = logging.getLogger(__name__)

T = TypeVar("T")

# The primary's WAL position, read after COMMIT returned (ReadPool.wal_position says why
# that is far enough); without a read pool (the CLI's seed), on the session.
_COMMIT_LSN = text("SELECT pg_current_wal_insert_lsn()::text")


@dataclass(slots=True)
class Outcome:
    """What one write did; the service fills in the entity it touched."""

    operation: str
    entity: str | None = None
    entity_id: int | None = None


def _statements_so_far() -> int:
    metrics = current_metrics.get()
    return metrics.statements if metrics else 0


class UnitOfWork:
    def __init__(
        self,
        session: AsyncSession,
        idempotency: IdempotentWrite | None = None,
        reads: ReadPool | None = None,
    ) -> None:
        self.session = session
        self.idempotency = idempotency
        self.reads = reads

    async def write(
        self,
        operation: str,
        entity: str | None,
        work: Callable[[Outcome], Awaitable[T]],
        answers: type[T],
    ) -> T:
        """Run `work` in one transaction, committed before this returns; its result.

        `answers` is the type of that result (`type(None)` for a write that answers no body):
        a keyed retry gets the stored result back as one, without running `work` again.
        The session is closed afterwards, whatever happened: a request's write services get
        a session of their own, and nobody else closes it.
        """
        try:
            return await self._write(operation, entity, work, answers)
        finally:
            await self.session.close()

    async def _write(
        self,
        operation: str,
        entity: str | None,
        work: Callable[[Outcome], Awaitable[T]],
        answers: type[T],
    ) -> T:
        outcome = Outcome(operation, entity)
        started = time.perf_counter()
        statements_before = _statements_so_far()
        metrics = current_metrics.get()
        trace = metrics.trace if metrics is not None else None
        traced_before = len(trace) if trace is not None else 0

        def record(result: Result, reason: str | None) -> OutcomeRecord:
            return OutcomeRecord(
                operation=operation,
                outcome=result,
                entity=outcome.entity,
                entity_id=outcome.entity_id,
                reason=reason,
                duration_ms=(time.perf_counter() - started) * 1000,
                statement_count=_statements_so_far() - statements_before,
                request_id=metrics.request_id if metrics else None,
                statements=None
                if trace is None
                else [statement.as_dict() for statement in trace[traced_before:]],
            )

        try:
            async with self.session.begin():
                if self.idempotency is None:
                    answer, replayed = await work(outcome), False
                else:
                    answer, replayed = await self.idempotency.run(
                        self.session, lambda: work(outcome), answers
                    )
                if not replayed:  # a replay wrote nothing, so there is nothing to record
                    await record_outcome(self.session, record("committed", None))
        except Exception as exc:
            error = exc if isinstance(exc, DomainError) else infrastructure_error(exc)
            reason = error.detail if error is not None else "internal error"
            await self._record_rollback(record("rolled_back", reason))
            if error is None or error is exc:
                raise
            raise error from exc
        # A replay wrote nothing now, and the write it replays is older than this position.
        await self._note_commit_lsn()
        return answer

    async def _note_commit_lsn(self) -> None:
        """Give the request the primary's WAL position: its response carries it (the
        request middleware sets X-Stackdeck-Commit-LSN), so its client can read its own
        writes on a standby."""
        metrics = current_metrics.get()
        if metrics is None:
            return
        try:
            if self.reads is not None:
                metrics.commit_lsn = await self.reads.wal_position()
                return
            async with self.session.begin():
                await self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                metrics.commit_lsn = await self.session.scalar(_COMMIT_LSN)
        except (*DATABASE_FAILURES, Unavailable) as exc:
            # The write did commit; its answer goes out without the header.
            log.warning("could not read the commit LSN: %s", type(exc).__name__)

    async def _record_rollback(self, record: OutcomeRecord) -> None:
        try:
            async with self.session.begin():
                await record_outcome(self.session, record)
        except DATABASE_FAILURES as exc:
            # The database may be the reason for the rollback; the caller still gets the error.
            log.warning("could not record rolled-back %s: %s", record.operation, type(exc).__name__)

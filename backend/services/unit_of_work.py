"""The unit of work: every write commits whole or rolls back whole, and says which.

A committed outcome is recorded in the same transaction as the data it describes; a
rolled-back one in its own short transaction after the rollback. Services use `write()`
and cannot forget either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.db.errors import infrastructure_error
from stackdeck.backend.errors import DomainError
from stackdeck.backend.metrics import current_metrics
from stackdeck.backend.services.idempotency import IdempotencyRequest, Replayed, claim, remember
from stackdeck.backend.services.outcomes import OutcomeRecord, Result, record_outcome

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    """What one write did; the service fills in the entity it touched."""

    operation: str
    entity: str | None = None
    entity_id: int | None = None
    response: BaseModel | None = None  # what the write answers: kept for idempotent retries


def _statements_so_far() -> int:
    metrics = current_metrics.get()
    return metrics.statements if metrics else 0


class UnitOfWork:
    def __init__(
        self, session: AsyncSession, idempotency: IdempotencyRequest | None = None
    ) -> None:
        self.session = session
        self.idempotency = idempotency

    @asynccontextmanager
    async def write(self, operation: str, entity: str | None = None) -> AsyncIterator[Outcome]:
        """Run the body in one transaction; the commit happens before this block exits."""
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
                if self.idempotency is not None:
                    await claim(self.session, self.idempotency)  # may replay instead
                yield outcome
                if self.idempotency is not None and outcome.response is not None:
                    await remember(
                        self.session, self.idempotency, outcome.response.model_dump_json()
                    )
                await record_outcome(self.session, record("committed", None))
        except Replayed:
            raise  # nothing was written, nothing to record
        except Exception as exc:
            error = exc if isinstance(exc, DomainError) else infrastructure_error(exc)
            reason = error.detail if error is not None else "internal error"
            await self._record_rollback(record("rolled_back", reason))
            if error is None or error is exc:
                raise
            raise error from exc

    async def _record_rollback(self, record: OutcomeRecord) -> None:
        try:
            async with self.session.begin():
                await record_outcome(self.session, record)
        except (SQLAlchemyError, OSError) as exc:
            # The database may be the reason for the rollback; the caller still gets the error.
            log.warning("could not record rolled-back %s: %s", record.operation, type(exc).__name__)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Reads in autocommit: no BEGIN and no COMMIT, one round trip per statement.

        A read of one statement sees one snapshot anyway; the connection goes back to the
        pool as soon as the block ends.
        """
        async with self.session.begin():
            await self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            yield self.session

"""The unit of work: every write commits whole or rolls back whole, inside the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from backend.db.errors import infrastructure_error
from backend.errors import DomainError


@dataclass(slots=True)
class Outcome:
    """What one write did; the service fills in the entity it touched."""

    operation: str
    entity: str | None = None
    entity_id: int | None = None


class UnitOfWork:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @asynccontextmanager
    async def write(self, operation: str, entity: str | None = None) -> AsyncIterator[Outcome]:
        """Run the body in one transaction; the commit happens before this block exits."""
        outcome = Outcome(operation, entity)
        try:
            async with self.session.begin():
                yield outcome
        except DomainError:
            raise
        except Exception as exc:
            translated = infrastructure_error(exc)
            if translated is None:
                raise
            raise translated from exc

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction, released as soon as the block ends."""
        async with self.session.begin():
            yield self.session

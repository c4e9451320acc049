"""Idempotent writes: a retry with the same key learns the first attempt's real outcome.

The key is claimed inside the write's own transaction, and the response is stored there
too, so "written" and "remembered" commit together. A concurrent retry blocks on the
claimed key until the first attempt ends, then replays its response (or, if it rolled
back, runs the write itself).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stackdeck.backend.db.errors import infrastructure_error
from stackdeck.backend.db.models import IdempotencyKey
from stackdeck.backend.errors import FieldError, InvalidInput, SchemaNotReady

log = logging.getLogger(__name__)

TTL = "24 hours"


@dataclass(frozen=True, slots=True)
class IdempotencyRequest:
    key: str
    fingerprint: str  # of the method, path and body: the same key must mean the same request


class Replayed(Exception):
    """The write already happened under this key; `response` is what it answered."""

    def __init__(self, response: str) -> None:
        super().__init__("idempotent replay")
        self.response = response


_expired = IdempotencyKey.created_at < func.now() - text(f"interval '{TTL}'")


async def claim(session: AsyncSession, request: IdempotencyRequest) -> None:
    """Take the key for this transaction, or raise Replayed with the stored response."""
    stmt = (
        pg_insert(IdempotencyKey)
        .values(key=request.key, fingerprint=request.fingerprint)
        .on_conflict_do_update(
            index_elements=[IdempotencyKey.key],
            set_={"fingerprint": request.fingerprint, "response": None, "created_at": func.now()},
            where=_expired,  # an expired key is as good as new
        )
        .returning(IdempotencyKey.key)
    )
    if (await session.execute(stmt)).first() is not None:
        return
    fingerprint, response = (
        await session.execute(
            select(IdempotencyKey.fingerprint, IdempotencyKey.response).where(
                IdempotencyKey.key == request.key
            )
        )
    ).one()
    if fingerprint != request.fingerprint:
        message = "this Idempotency-Key was used with a different request"
        raise InvalidInput(message, [FieldError("Idempotency-Key", message)])
    raise Replayed(response or "null")


async def remember(session: AsyncSession, request: IdempotencyRequest, response: str) -> None:
    await session.execute(
        update(IdempotencyKey).where(IdempotencyKey.key == request.key).values(response=response)
    )


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(delete(IdempotencyKey).where(_expired))
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_periodically(
    sessions: async_sessionmaker[AsyncSession], every_seconds: float = 3600.0
) -> None:
    """Forget expired keys now and then, so the table holds about a day of writes."""
    while True:
        try:
            async with sessions() as session, session.begin():
                purged = await purge_expired(session)
            log.info("purged %d expired idempotency keys", purged)
        except (SQLAlchemyError, OSError) as exc:
            # Before the schema is migrated there is nothing to purge: not worth a warning.
            level = (
                logging.DEBUG
                if isinstance(infrastructure_error(exc), SchemaNotReady)
                else logging.WARNING
            )
            log.log(level, "could not purge idempotency keys: %s", type(exc).__name__)
        await asyncio.sleep(every_seconds)

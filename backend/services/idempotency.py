"""Idempotent writes: one object owns the contract, from the key's claim to its replay.

A write sent with an `Idempotency-Key` claims the key inside its own transaction and stores
its answer there too, so "written" and "remembered" commit together. A retry with the same
key and the same request gets that answer back and writes nothing; a concurrent retry blocks
on the claimed key until the first attempt ends, then replays it (or, if it rolled back, runs
the write itself). The same key with a different request is refused, naming the header.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from stackdeck.backend.db.errors import infrastructure_error
from stackdeck.backend.db.models import IdempotencyKey
from stackdeck.backend.errors import Conflict, FieldError, InvalidInput, SchemaNotReady

log = logging.getLogger(__name__)

TTL = "24 hours"
HEADER = "Idempotency-Key"

T = TypeVar("T")

_expired = IdempotencyKey.created_at < func.now() - text(f"interval '{TTL}'")


_adapters: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(answers: type[T]) -> TypeAdapter[T]:
    # One per result type: an adapter made per request would build its schema each time.
    if answers not in _adapters:
        _adapters[answers] = TypeAdapter(answers)
    adapter: TypeAdapter[T] = _adapters[answers]
    return adapter


def _fingerprint(method: str, path: str, body: bytes) -> str:
    # The same JSON however it is spaced or ordered; anything else by its bytes.
    with contextlib.suppress(ValueError):
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()


@dataclass(frozen=True, slots=True)
class IdempotentWrite:
    """One keyed request: claim the key, run the write, store its answer, or replay it.

    The answer stored is the write's result (its response body's model, or None for a
    bodiless answer); a replay returns that result, so the route answers it exactly as it
    did the first time: the same status, body and headers, plus `on_replay`'s marker.
    """

    key: str
    fingerprint: str  # of the method, path and body: the same key must mean the same request
    on_replay: Callable[[], None] = lambda: None

    @classmethod
    def of(
        cls,
        key: str,
        method: str,
        path: str,
        body: bytes,
        on_replay: Callable[[], None] = lambda: None,
    ) -> IdempotentWrite:
        return cls(key, _fingerprint(method, path, body), on_replay)

    async def run(
        self, session: AsyncSession, work: Callable[[], Awaitable[T]], answers: type[T]
    ) -> tuple[T, bool]:
        """In the caller's transaction: (the write's result, False) or (the replay, True)."""
        stored = await self._claim(session)
        adapter = _adapter(answers)
        if stored is not None:
            self.on_replay()
            return adapter.validate_json(stored), True
        result = await work()
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == self.key)
            .values(response=adapter.dump_json(result).decode())
        )
        return result, False

    async def _claim(self, session: AsyncSession) -> str | None:
        """Take the key for this transaction (None), or return what it first answered."""
        stmt = (
            pg_insert(IdempotencyKey)
            .values(key=self.key, fingerprint=self.fingerprint)
            .on_conflict_do_update(
                index_elements=[IdempotencyKey.key],
                set_={"fingerprint": self.fingerprint, "response": None, "created_at": func.now()},
                where=_expired,  # an expired key is as good as new
            )
            .returning(IdempotencyKey.key)
        )
        if (await session.execute(stmt)).first() is not None:
            return None
        fingerprint, response = (
            await session.execute(
                select(IdempotencyKey.fingerprint, IdempotencyKey.response).where(
                    IdempotencyKey.key == self.key
                )
            )
        ).one()
        if fingerprint != self.fingerprint:
            message = f"this {HEADER} was used with a different request"
            raise InvalidInput(message, [FieldError(HEADER, message)])
        if response is None:
            # Only from a version that kept no answer for PATCH and DELETE: nothing to replay.
            raise Conflict(
                f"the write under this {HEADER} committed, but its answer was not kept: "
                "read the resource to learn its state"
            )
        return response


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

"""Health checks that never raise: they say what is down instead."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.schemas.migrations import SchemaState
from stackdeck.backend.services.migrations import MigrationsService

log = logging.getLogger(__name__)


async def why_database_is_down(session: AsyncSession) -> str | None:
    """None while the database answers; otherwise why not, in one line (what the server or
    the network said: a refused connection, a pooler refusing a parameter, a bad password)."""
    try:
        async with session.begin():
            await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.info("health: database down (%s)", type(exc).__name__)
        return _one_line(exc)
    return None


def _one_line(exc: BaseException) -> str:
    while exc.__cause__ is not None:  # the driver's own error says most
        exc = exc.__cause__
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


async def schema_state(migrations: MigrationsService) -> SchemaState | None:
    try:
        return await migrations.schema_state()
    except (SQLAlchemyError, OSError) as exc:
        log.info("health: schema state unavailable (%s)", type(exc).__name__)
        return None

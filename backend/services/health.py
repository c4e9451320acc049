"""Health checks that never raise: they say what is down instead."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.schemas.migrations import SchemaState
from stackdeck.backend.services.migrations import MigrationsService

log = logging.getLogger(__name__)


async def database_is_up(session: AsyncSession) -> bool:
    try:
        async with session.begin():
            await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.info("health: database down (%s)", type(exc).__name__)
        return False
    return True


async def schema_state(migrations: MigrationsService) -> SchemaState | None:
    try:
        return await migrations.schema_state()
    except (SQLAlchemyError, OSError) as exc:
        log.info("health: schema state unavailable (%s)", type(exc).__name__)
        return None

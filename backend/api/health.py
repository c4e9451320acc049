"""GET /health: is the backend up, can it reach its database, and is the schema at head."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from stackdeck.backend.api.deps import MigrationsServiceDep, PoolerCheckDep, SessionDep
from stackdeck.backend.schemas.migrations import SchemaState
from stackdeck.backend.services.health import schema_state, why_database_is_down

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["up", "down"]
    schema_: SchemaState | None = Field(
        alias="schema", description="the migration state; null while the database is down"
    )
    reason: str | None = Field(
        default=None, description="why it is degraded, in one line; null when ok"
    )


@router.get("/health", summary="Backend, database and schema status (200 even when degraded)")
async def health(
    session: SessionDep, migrations: MigrationsServiceDep, pooler: PoolerCheckDep
) -> Health:
    down = await why_database_is_down(session)
    reason = down or pooler.reason
    return Health(
        status="degraded" if reason else "ok",
        database="down" if down else "up",
        schema=None if down else await schema_state(migrations),
        reason=reason,
    )

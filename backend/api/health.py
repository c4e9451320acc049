"""GET /health: is the backend up, can it reach its database, and is the schema at head."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from stackdeck.backend.api.deps import MigrationsServiceDep, SessionDep
from stackdeck.backend.schemas.migrations import SchemaState
from stackdeck.backend.services.health import database_is_up, schema_state

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["up", "down"]
    schema_: SchemaState | None = Field(
        alias="schema", description="the migration state; null while the database is down"
    )


@router.get("/health", summary="Backend, database and schema status (200 even when degraded)")
async def health(session: SessionDep, migrations: MigrationsServiceDep) -> Health:
    up = await database_is_up(session)
    return Health(
        status="ok" if up else "degraded",
        database="up" if up else "down",
        schema=await schema_state(migrations) if up else None,
    )

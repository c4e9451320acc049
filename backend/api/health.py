"""GET /health: is the backend up, can it reach its database, and is the schema at head."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.api.deps import MigrationsServiceDep, PoolerCheckDep, SessionDep
from stackdeck.backend.db.reads import ReadPool
from stackdeck.backend.db.standby import ReplicaState
from stackdeck.backend.schemas.migrations import SchemaState
from stackdeck.backend.services.health import schema_state, why_database_is_down

router = APIRouter(prefix=API_PREFIX, tags=["health"])


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["up", "down"]
    schema_: SchemaState | None = Field(
        alias="schema", description="the migration state; null while the database is down"
    )
    reason: str | None = Field(
        default=None, description="why it is degraded, in one line; null when ok"
    )
    replica: ReplicaState | None = Field(
        default=None,
        description="the read standby (only with STACKDECK_READ_DATABASE_URL): `down` or "
        "`lagging` past STACKDECK_REPLICA_MAX_LAG_MS sends reads to the primary",
    )
    replica_lag_ms: float | None = Field(
        default=None, description="how far the standby's replay is behind the primary"
    )


@router.get(
    "/health",
    summary="Backend, database and schema status (200 even when degraded)",
    response_model_exclude_unset=True,
)
async def health(
    request: Request,
    session: SessionDep,
    migrations: MigrationsServiceDep,
    pooler: PoolerCheckDep,
) -> Health:
    down = await why_database_is_down(session)
    reason = down or pooler.reason
    result = Health(
        status="degraded" if reason else "ok",
        database="down" if down else "up",
        schema=None if down else await schema_state(migrations),
        reason=reason,
    )
    reads: ReadPool = request.app.state.reads
    if reads.standby is not None:
        # The standby's last check, not a new one: /health stays one query on the primary.
        result.replica = reads.standby.state
        lag = reads.standby.lag
        result.replica_lag_ms = round(lag * 1000, 1) if lag is not None else None
    return result

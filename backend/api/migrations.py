"""/migrations: status with history and drift, upgrade, downgrade, an SQL preview and a
revision's source."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query

from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.api.deps import MigrationsServiceDep
from stackdeck.backend.api.idempotency import refuse_idempotency_key
from stackdeck.backend.api.problems import PROBLEM_RESPONSES, problem_response
from stackdeck.backend.schemas.migrations import (
    DowngradeRequest,
    MigrationRun,
    MigrationSql,
    MigrationStatus,
    RevisionSource,
    UpgradeRequest,
)
from stackdeck.backend.schemas.types import Text

router = APIRouter(
    prefix=f"{API_PREFIX}/migrations",
    tags=["migrations"],
    responses={
        **PROBLEM_RESPONSES,
        409: problem_response("A migration is running: nothing was done, retry later"),
        500: problem_response("The migration failed; rolled back"),
    },
)

# A run takes no Idempotency-Key: it cannot be remembered in the database it migrates (a
# downgrade past 0005 drops the keys' table), and a run to a named revision is idempotent
# by itself. A key is refused rather than ignored, so no client believes its retry is safe.
REFUSES_KEY = [Depends(refuse_idempotency_key)]

Revision = Annotated[
    Text | None,
    Query(max_length=200, description="`base`, `head`, a revision id or a relative step"),
]


@router.get("", summary="Current and head revisions, history, pending count and drift")
async def migration_status(migrations: MigrationsServiceDep) -> MigrationStatus:
    return await migrations.status()


@router.post(
    "/upgrade",
    dependencies=REFUSES_KEY,
    summary="Upgrade to a target (default head); 409 at once if a migration is running",
)
async def upgrade(
    migrations: MigrationsServiceDep,
    body: Annotated[UpgradeRequest, Body()] = UpgradeRequest(),  # noqa: B008 (immutable)
) -> MigrationRun:
    return await migrations.upgrade(body.target)


@router.post(
    "/downgrade",
    dependencies=REFUSES_KEY,
    summary="Downgrade to a target (default -1); 409 at once if a migration is running",
)
async def downgrade(
    migrations: MigrationsServiceDep,
    body: Annotated[DowngradeRequest, Body()] = DowngradeRequest(),  # noqa: B008 (immutable)
) -> MigrationRun:
    return await migrations.downgrade(body.target)


@router.get("/sql", summary="The SQL a run would execute (Alembic offline mode), for review")
async def migration_sql(
    migrations: MigrationsServiceDep,
    from_: Annotated[
        Text | None,
        Query(alias="from", max_length=200, description="default: the current revision"),
    ] = None,
    to: Annotated[Text | None, Query(max_length=200, description="default: head")] = None,
) -> MigrationSql:
    return await migrations.sql(from_, to)


@router.get("/{revision}/source", summary="A revision file's text, for review (read-only)")
async def revision_source(
    migrations: MigrationsServiceDep,
    revision: Annotated[str, Path(max_length=200, description="a revision id")],
) -> RevisionSource:
    return await migrations.source(revision)

"""Migration schemas: status with history and drift, a run's result, an SQL preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stackdeck.backend.schemas.types import Text

Direction = Literal["upgrade", "downgrade"]


class RevisionRead(BaseModel):
    revision: str
    down_revision: str | list[str] | None = Field(description="null for the first revision")
    message: str
    created: datetime | None = Field(description="the revision file's Create Date")
    applied: bool
    is_current: bool
    is_head: bool


class Drift(BaseModel):
    checked: bool = Field(
        description="false when the database is not at head: pending revisions, not drift, "
        "explain the differences then"
    )
    detected: bool
    differences: list[str] = Field(description="Alembic's autogenerate differences (first 20)")


class SchemaState(BaseModel):
    current: list[str] = Field(description="applied heads; [] on an empty database")
    heads: list[str]
    at_head: bool


class MigrationStatus(SchemaState):
    pending: int = Field(description="revisions not applied yet")
    running: bool = Field(description="a migration run holds the lock right now")
    history: list[RevisionRead] = Field(description="every revision, oldest first")
    drift: Drift


_TARGET_HELP = "`head`, `base`, a revision id, or a relative step like `+1` or `-1`"


class UpgradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Annotated[Text, Field(min_length=1, max_length=200, description=_TARGET_HELP)] = "head"


class DowngradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Annotated[Text, Field(min_length=1, max_length=200, description=_TARGET_HELP)] = "-1"


class MigrationRun(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    direction: Direction
    from_: list[str] = Field(alias="from", description="heads before the run")
    to: list[str] = Field(description="heads after the run")
    applied: list[str] = Field(description="revisions run, in the order they ran")
    duration_ms: float
    recorded: bool = Field(
        description="false when the transaction log does not exist at the resulting revision"
    )


class MigrationSql(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    from_: str = Field(alias="from")
    to: str
    direction: Direction
    sql: str


class RevisionSource(BaseModel):
    revision: str
    filename: str = Field(description="the revision file's name in migrations/versions")
    source: str = Field(description="the revision file's text, as it ships")

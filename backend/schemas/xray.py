"""The X-ray's schemas: statements as sent, warnings, changed rows, plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from stackdeck.backend.schemas.transactions import TransactionRead


class StatementRead(BaseModel):
    sql: str = Field(description="the SQL as sent, with its placeholders: never a bound value")
    duration_ms: float
    rows: int | None = Field(description="rows returned or affected, when the driver says")


class XrayWarning(BaseModel):
    code: Literal["n_plus_one"] = Field(
        description="`n_plus_one`: one statement shape ran 5 times or more in one request"
    )
    sql: str
    count: int


class RequestTraceRead(BaseModel):
    request_id: str
    at: datetime
    method: str
    path: str = Field(description="the path, without its query string")
    status: int
    duration_ms: float
    statements: list[StatementRead] = Field(description="every statement, in order")
    warnings: list[XrayWarning]


class RowChange(BaseModel):
    table: Literal["users", "posts"]
    id: int
    op: Literal["insert", "update", "delete"]
    before: dict[str, Any] | None = Field(
        description="the changed columns before (the whole row for a delete); null for inserts"
    )
    after: dict[str, Any] | None = Field(
        description="the changed columns after (the whole row for an insert); null for deletes"
    )


class TransactionDetail(TransactionRead):
    statements: list[StatementRead] | None = Field(
        description="what the transaction ran, in order; null when recorded without the X-ray"
    )
    changes: list[RowChange] | None = Field(
        description="for a committed write, every row it changed in users and posts (cascades "
        "included, the first 1000); empty for a rollback; null without the X-ray"
    )


class StatementPlan(BaseModel):
    request_id: str
    index: int
    sql: str
    plan: Any = Field(description="EXPLAIN (GENERIC_PLAN, FORMAT JSON): planned, never run")

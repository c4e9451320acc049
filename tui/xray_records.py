"""The X-ray's answers as typed records (Pydantic): a request's statements, a transaction's
detail, a statement's plan. Imported when the X-ray is first opened, not at launch."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from stackdeck.tui.client import ApiError

_Record = TypeVar("_Record", bound=BaseModel)

# -- the X-ray's answers, typed ----------------------------------------------------------------


class Statement(BaseModel):
    sql: str  # as sent, with its placeholders: never a bound value
    duration_ms: float
    rows: int | None = None


class XrayWarning(BaseModel):
    code: str  # "n_plus_one": one statement shape ran `count` times in one request
    sql: str
    count: int


class RequestTrace(BaseModel):
    request_id: str
    at: datetime
    method: str
    path: str
    status: int
    duration_ms: float
    statements: list[Statement]
    warnings: list[XrayWarning]

    @property
    def n_plus_one(self) -> list[XrayWarning]:
        return [w for w in self.warnings if w.code == "n_plus_one"]


class RowChange(BaseModel):
    table: str  # "users" or "posts"
    id: int
    op: str  # "insert", "update" or "delete"
    before: dict[str, Any] | None = None  # the changed columns (a delete: the whole row)
    after: dict[str, Any] | None = None  # likewise (an insert: the whole row)


class TransactionDetail(BaseModel):
    id: int
    occurred_at: datetime
    operation: str
    entity: str | None = None
    entity_id: int | None = None
    outcome: str
    reason: str | None = None
    duration_ms: float
    statement_count: int
    request_id: str | None = None
    statements: list[Statement] | None = None  # None: recorded with the X-ray off
    changes: list[RowChange] | None = None


class StatementPlan(BaseModel):
    request_id: str
    index: int
    sql: str
    plan: Any  # EXPLAIN (GENERIC_PLAN, FORMAT JSON): a list holding one {"Plan": {...}}


def typed(model: type[_Record], data: Any) -> _Record:
    """An answer as its record; one that does not fit is an error a pane can show."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            502, "Unexpected answer", f"{model.__name__}: {exc.error_count()} errors"
        ) from None

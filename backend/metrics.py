"""Per-request figures (request id, SQL statements, database time), kept in a context variable.

SQLAlchemy runs the driver inside greenlets that share the request task's context, so the
engine's cursor events see the same object the request middleware created.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import NamedTuple


class StatementTrace(NamedTuple):
    """One statement as the X-ray shows it: the SQL as sent (placeholders, never a value).

    A tuple of atoms, which the cyclic collector stops tracking: a process keeps thousands of
    them (services/xray.py), and as tracked objects every full collection walked them all.
    """

    sql: str
    duration_ms: float
    rows: int | None

    def as_dict(self) -> dict[str, object]:
        return {"sql": self.sql, "duration_ms": round(self.duration_ms, 3), "rows": self.rows}


@dataclass(slots=True)
class RequestMetrics:
    request_id: str
    statements: int = 0
    db_seconds: float = 0.0
    commit_lsn: str | None = None  # the primary's WAL position after this request's write
    # Every statement, in order, while the X-ray is on; None when it is off.
    trace: list[StatementTrace] | None = field(default=None)

    def server_timing(self) -> str:
        return f'db;dur={self.db_seconds * 1000:.1f};desc="{self.statements} statements"'

    def ran(self, sql: str, seconds: float, rows: int | None) -> None:
        self.db_seconds += seconds
        if self.trace is not None:
            self.trace.append(StatementTrace(sql, seconds * 1000, rows))


current_metrics: ContextVar[RequestMetrics | None] = ContextVar("current_metrics", default=None)


def current_request_id() -> str | None:
    metrics = current_metrics.get()
    return metrics.request_id if metrics else None

"""Per-request figures (request id, SQL statements, database time), kept in a context variable.

SQLAlchemy runs the driver inside greenlets that share the request task's context, so the
engine's cursor events see the same object the request middleware created.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RequestMetrics:
    request_id: str
    statements: int = 0
    db_seconds: float = 0.0
    commit_lsn: str | None = None  # the primary's WAL position after this request's write

    def server_timing(self) -> str:
        return f'db;dur={self.db_seconds * 1000:.1f};desc="{self.statements} statements"'


current_metrics: ContextVar[RequestMetrics | None] = ContextVar("current_metrics", default=None)


def current_request_id() -> str | None:
    metrics = current_metrics.get()
    return metrics.request_id if metrics else None

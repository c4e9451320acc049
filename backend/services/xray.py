"""The X-ray of requests: each request's statements, kept in the memory of the process that
served it, and found from any other process through PostgreSQL.

Recording costs a list append per statement and a dict entry per request: nothing reaches
the database on the request's path. A process asked for a request it did not serve sends a
NOTIFY; the process that served it publishes the trace into `request_traces` (unlogged,
emptied of traces older than a few minutes as it goes), where the asker reads it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, OrderedDict
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from stackdeck.backend.errors import InvalidInput, NotFound
from stackdeck.backend.metrics import StatementTrace

log = logging.getLogger(__name__)

LOOKUP_CHANNEL = "stackdeck_xray_lookup"
KEEP = 5000  # requests each process remembers, the oldest dropped first
N_PLUS_ONE = 5  # one statement shape run this many times in one request
PUBLISHED_FOR = "5 minutes"
LOOKUP_WAIT = 2.0  # seconds an asker waits for the process that served the request
ASK_AGAIN = 0.5
# Statements EXPLAIN can plan; BEGIN, COMMIT, SET and the like have no plan.
_PLANNABLE = ("select", "insert", "update", "delete", "with", "values", "table", "merge")

_PUBLISH = text(
    f"""
    WITH stale AS (
        DELETE FROM request_traces WHERE published_at < now() - interval '{PUBLISHED_FOR}'
    )
    INSERT INTO request_traces (request_id, trace) VALUES (:request_id, :trace)
    ON CONFLICT (request_id) DO UPDATE SET trace = EXCLUDED.trace, published_at = now()
    """
)
_ASK = text(f"SELECT pg_notify('{LOOKUP_CHANNEL}', :request_id)")
_PUBLISHED = text("SELECT trace FROM request_traces WHERE request_id = :request_id")
_PLAN = text("SELECT xray_generic_plan(:statement)")


class RequestTrace(NamedTuple):
    """One answered request and its statements. Immutable tuples of atoms throughout, so the
    cyclic collector stops tracking the thousands a process keeps: as tracked objects (a
    dataclass and a list each) every full collection walked them: an eighth of a read's CPU
    under load (benchmarks/cpu.py, issue 17)."""

    request_id: str
    method: str
    path: str
    status: int
    duration_ms: float
    statements: tuple[StatementTrace, ...]
    at: datetime

    def warnings(self) -> list[dict[str, Any]]:
        runs = Counter(statement.sql for statement in self.statements)
        return [
            {"code": "n_plus_one", "sql": sql, "count": count}
            for sql, count in runs.items()
            if count >= N_PLUS_ONE
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "at": self.at.isoformat(),
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "duration_ms": round(self.duration_ms, 3),
            "statements": [statement.as_dict() for statement in self.statements],
            "warnings": self.warnings(),
        }


class RequestTraces:
    """This process's recent requests, by id, and the way to everyone else's."""

    def __init__(self, keep: int = KEEP) -> None:
        self.engine: AsyncEngine | None = None  # the app's, once its lifespan has opened it
        self.keep = keep
        self._recent: OrderedDict[str, RequestTrace] = OrderedDict()
        self._publishing: set[asyncio.Task[None]] = set()

    def add(self, trace: RequestTrace) -> None:
        self._recent[trace.request_id] = trace
        self._recent.move_to_end(trace.request_id)
        if len(self._recent) > self.keep:
            self._recent.popitem(last=False)

    async def find(self, request_id: str) -> dict[str, Any]:
        """The request's trace, from this process or the one that served it."""
        if (trace := self._recent.get(request_id)) is not None:
            return trace.as_dict()
        engine = self._engine()
        deadline = time.monotonic() + LOOKUP_WAIT
        asked_at = 0.0
        while True:
            async with engine.begin() as conn:
                if time.monotonic() - asked_at > ASK_AGAIN:
                    # Asked again now and then: a process whose LISTEN connection was
                    # reconnecting missed the first notification.
                    await conn.execute(_ASK, {"request_id": request_id})
                    asked_at = time.monotonic()
                published = await conn.scalar(_PUBLISHED, {"request_id": request_id})
            if published is not None:
                found: dict[str, Any] = json.loads(published)
                return found
            if time.monotonic() > deadline:
                raise NotFound(
                    f"no request {request_id} among the last {self.keep} of any running process"
                )
            await asyncio.sleep(0.05)

    def asked(self, request_id: str) -> None:
        """Another process asks for a request: publish it if this process served it."""
        trace = self._recent.get(request_id)
        if trace is None:
            return
        task = asyncio.get_running_loop().create_task(self._publish(trace))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, trace: RequestTrace) -> None:
        try:
            async with self._engine().begin() as conn:
                await conn.execute(
                    _PUBLISH,
                    {
                        "request_id": trace.request_id,
                        "trace": json.dumps(trace.as_dict()),
                    },
                )
        except (SQLAlchemyError, OSError) as exc:
            log.warning("could not publish request %s: %s", trace.request_id, type(exc).__name__)

    async def plan(self, request_id: str, index: int) -> Any:
        """EXPLAIN (GENERIC_PLAN) of a statement the server recorded: never arbitrary SQL
        from the client, never ANALYZE, and read-only besides."""
        statements = (await self.find(request_id))["statements"]
        if not 0 <= index < len(statements):
            raise NotFound(f"request {request_id} ran {len(statements)} statements")
        sql = statements[index]["sql"]
        if not sql.lstrip(" (\n").lower().startswith(_PLANNABLE):
            raise InvalidInput("this statement has no plan (only queries and DML do)")
        async with self._engine().connect() as conn:
            await conn.execute(text("SET TRANSACTION READ ONLY"))
            plan = await conn.scalar(_PLAN, {"statement": sql})
            await conn.rollback()
        return json.loads(plan) if isinstance(plan, str) else plan

    def _engine(self) -> AsyncEngine:
        assert self.engine is not None, "the app's lifespan has not started"
        return self.engine

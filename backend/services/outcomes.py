"""Recording a write's outcome: one statement that serialises, inserts and notifies.

The log insert takes a transaction-level advisory lock first, so log ids are handed out in
commit order: the lock is held until this transaction has committed (or rolled back), and
the next writer draws its id only after that. A reader that resumes "after id N" therefore
never misses an id below N that commits later. NOTIFY in the same transaction is delivered
only if the transaction commits, in commit order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from stackdeck.backend.db.in_transaction import in_transaction
from stackdeck.backend.db.reads import ReadStatement

CHANNEL = "stackdeck_transactions"
# Any fixed bigint; it only has to differ from the other advisory locks the app takes.
LOG_LOCK_KEY = 0x5354_4B44_4C4F_47  # "STKDLOG"

_INSERT_COLUMNS = """
    operation, entity, entity_id, outcome, reason, duration_ms, statement_count, request_id
"""
_INSERT_VALUES = """
    :operation, :entity, :entity_id, :outcome, :reason, :duration_ms, :statement_count,
    :request_id
"""

_RECORD = text(
    f"""
    WITH serialised AS (SELECT pg_advisory_xact_lock(:lock_key)),
    entry AS (
        INSERT INTO transaction_log ({_INSERT_COLUMNS})
        SELECT {_INSERT_VALUES} FROM serialised
        RETURNING *
    )
    SELECT entry.id, pg_notify(:channel, row_to_json(entry)::text) FROM entry
    """
)

# With the X-ray: the statements the transaction ran, and the rows its triggers collected
# (taken out of xray_changes, in the order they changed); the NOTIFY payload leaves both
# out, so it stays far below PostgreSQL's 8000-byte limit.
MAX_CHANGES = 1000
_RECORD_XRAY = text(
    f"""
    WITH serialised AS (SELECT pg_advisory_xact_lock(:lock_key)),
    changed AS (
        DELETE FROM xray_changes WHERE txid = txid_current()
        RETURNING seq, table_name, row_id, op, before, after
    ),
    entry AS (
        INSERT INTO transaction_log ({_INSERT_COLUMNS}, statements, changes)
        SELECT {_INSERT_VALUES}, CAST(:statements AS jsonb), (
            SELECT coalesce(jsonb_agg(
                jsonb_build_object(
                    'table', table_name, 'id', row_id, 'op', op, 'before', before, 'after', after
                ) ORDER BY seq
            ), '[]')
            FROM (SELECT * FROM changed ORDER BY seq LIMIT {MAX_CHANGES}) AS first_changes
        )
        FROM serialised
        RETURNING *
    )
    SELECT entry.id, pg_notify(:channel, (to_jsonb(entry) - 'statements' - 'changes')::text)
    FROM entry
    """
)
# Run on the write's own connection (db/in_transaction.py): every write sends one.
_RECORD_SQL, _RECORD_XRAY_SQL = map(ReadStatement.compile, (_RECORD, _RECORD_XRAY))

Result = Literal["committed", "rolled_back"]


@dataclass(slots=True)
class OutcomeRecord:
    operation: str
    outcome: Result
    entity: str | None = None
    entity_id: int | None = None
    reason: str | None = None
    duration_ms: float = 0.0
    statement_count: int = 0
    request_id: str | None = None
    # The X-ray's statements (StatementTrace.as_dict), or None: recorded without the X-ray.
    statements: list[dict[str, object]] | None = None


async def record_outcome(db: AsyncSession | AsyncConnection, record: OutcomeRecord) -> int:
    """Insert the record in the caller's open transaction and notify listeners; its id."""
    xray = record.statements is not None
    statements = await in_transaction(db)
    rows = await statements.fetch(
        _RECORD_XRAY_SQL if xray else _RECORD_SQL,
        lock_key=LOG_LOCK_KEY,
        channel=CHANNEL,
        operation=record.operation,
        entity=record.entity,
        entity_id=record.entity_id,
        outcome=record.outcome,
        reason=(record.reason or None) and record.reason[:300],
        duration_ms=round(record.duration_ms, 3),
        statement_count=record.statement_count,
        request_id=record.request_id,
        **({"statements": json.dumps(record.statements)} if xray else {}),
    )
    return int(rows[0]["id"])

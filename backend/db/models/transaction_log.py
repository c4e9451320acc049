"""The transaction log: one row per write transaction's outcome, ids in commit order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, Identity, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from stackdeck.backend.db.base import Base

OUTCOMES = ("committed", "rolled_back")


class TransactionLog(Base):
    __tablename__ = "transaction_log"
    __table_args__ = (CheckConstraint("outcome IN ('committed', 'rolled_back')", name="outcome"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp(), index=True
    )
    operation: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[float] = mapped_column(Float, server_default="0")
    statement_count: Mapped[int] = mapped_column(Integer, server_default="0")
    request_id: Mapped[str | None] = mapped_column(String(64))
    # The X-ray: what the transaction ran and what it changed. Deferred: only the detail
    # view reads them, and the NOTIFY payload leaves them out.
    statements: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB, deferred=True)
    changes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB, deferred=True)

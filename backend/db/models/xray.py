"""The X-ray's own tables: rows a write changed (until its outcome takes them), and request
traces asked for by another process. Both unlogged: scratch state, not history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from stackdeck.backend.db.base import Base


class XrayChange(Base):
    """One row a write inserted, updated or deleted, filled by the users' and posts' triggers
    while `stackdeck.xray` is on; its transaction's outcome row moves them into the log."""

    __tablename__ = "xray_changes"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    txid: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("txid_current()")
    )
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32))
    row_id: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(8))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class RequestTrace(Base):
    """A request's trace, published by the process that served it when another one asks."""

    __tablename__ = "request_traces"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    trace: Mapped[str] = mapped_column(Text)

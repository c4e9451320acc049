"""The posts table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    func,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stackdeck.backend.db.base import Base

if TYPE_CHECKING:
    from stackdeck.backend.db.models.user import User

TITLE_MAX = 200
BODY_MAX = 50_000


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        # Bytes first (migration 0009): octet_length is the stored size, char_length walks the
        # string. A value is never longer in characters than in bytes and the OR stops at its
        # first true test, so only a value over the limit in bytes has its characters counted.
        CheckConstraint(
            "title <> '' AND "
            f"(octet_length(title) <= {TITLE_MAX} OR char_length(title) <= {TITLE_MAX})",
            name="title_length",
        ),
        CheckConstraint(
            f"octet_length(body) <= {BODY_MAX} OR char_length(body) <= {BODY_MAX}",
            name="body_length",
        ),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 (SQLAlchemy reads it as is)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Writers that do not know the flag publish, as they did before it existed.
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    author: Mapped[User] = relationship(back_populates="posts", lazy="raise")


# Keyset pages in every sortable order: the column, then the id that breaks its ties.
SORTABLE = ("created_at", "title")
for _column in SORTABLE:
    Index(f"ix_posts_{_column}_id", Post.__table__.c[_column], Post.__table__.c.id)

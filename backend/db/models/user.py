"""The users table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Identity,
    Index,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from stackdeck.backend.db.base import Base
from stackdeck.backend.db.models.post import Post

NAME_MAX = 100
EMAIL_MAX = 320


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # Bytes first, as on posts (migration 0009); btrim(name) <> '' means non-empty too.
        CheckConstraint(
            "btrim(name) <> '' AND "
            f"(octet_length(name) <= {NAME_MAX} OR char_length(name) <= {NAME_MAX})",
            name="name_length",
        ),
    )
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 (SQLAlchemy reads it as is)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    posts: Mapped[list[Post]] = relationship(
        back_populates="author",
        lazy="raise",
        passive_deletes=True,
        order_by="Post.id",
    )
    # Kept right by a trigger on posts (migration 0008), so every writer of posts counts,
    # and a page can be sorted by it through an index.
    post_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


# One address, however it is capitalised.
Index("uq_users_email_lower", func.lower(User.email), unique=True)

# Keyset pages in every sortable order: the column, then the id that breaks its ties.
SORTABLE = ("name", "email", "created_at", "post_count")
for _column in SORTABLE:
    Index(f"ix_users_{_column}_id", User.__table__.c[_column], User.__table__.c.id)

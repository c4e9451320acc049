"""transaction log

Revision ID: 0003_transaction_log
Revises: 0002_posts
Create Date: 2026-11-23 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_transaction_log"
down_revision: str | Sequence[str] | None = "0002_posts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# True when upgrade() then downgrade() (and back) keep every row: here the downgrade
# drops the transaction log.
data_preserving = False


def upgrade() -> None:
    op.create_table(
        "transaction_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.clock_timestamp(),
            nullable=False,
        ),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=True),
        sa.Column("entity_id", sa.BigInteger(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=True),
        sa.Column("duration_ms", sa.Float(), server_default="0", nullable=False),
        sa.Column("statement_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('committed', 'rolled_back')", name=op.f("ck_transaction_log_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transaction_log")),
    )
    op.create_index(op.f("ix_transaction_log_occurred_at"), "transaction_log", ["occurred_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_transaction_log_occurred_at"), table_name="transaction_log")
    op.drop_table("transaction_log")

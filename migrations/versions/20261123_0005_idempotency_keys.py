"""idempotency keys

Revision ID: 0005_idempotency_keys
Revises: 0003_transaction_log
Create Date: 2026-11-23 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_idempotency_keys"
down_revision: str | Sequence[str] | None = "0003_transaction_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# True when upgrade() then downgrade() (and back) keep every row: here the downgrade
# drops the remembered idempotency keys.
data_preserving = False


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")

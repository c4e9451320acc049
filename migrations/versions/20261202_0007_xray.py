"""x-ray: the statements and changed rows behind every write, and request traces

`transaction_log` gains `statements` and `changes`. The rows a write changes in `users` and
`posts` (cascaded deletes included) are collected by row triggers into `xray_changes` while
the session's `stackdeck.xray` setting is on (the backend's write connections turn it on);
the transaction's outcome row then moves them into its `changes`, in the same transaction,
so the log shows exactly what committed. `request_traces` holds a request's trace when a
process that did not serve it asks for it. Both new tables are unlogged scratch space.

Revision ID: 0007_xray
Revises: 0006_posts_published
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007_xray"
down_revision: str | Sequence[str] | None = "0006_posts_published"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every row is kept both ways; the downgrade drops only the X-ray's columns and scratch.
data_preserving = True

TABLES = ("users", "posts")

RECORD_CHANGE = """
CREATE FUNCTION xray_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_row jsonb;
    new_row jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO xray_changes (table_name, row_id, op, after)
        VALUES (TG_TABLE_NAME, NEW.id, 'insert', to_jsonb(NEW));
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO xray_changes (table_name, row_id, op, before)
        VALUES (TG_TABLE_NAME, OLD.id, 'delete', to_jsonb(OLD));
    ELSE
        old_row := to_jsonb(OLD);
        new_row := to_jsonb(NEW);
        -- Only the columns that changed, before and after.
        INSERT INTO xray_changes (table_name, row_id, op, before, after)
        SELECT TG_TABLE_NAME, NEW.id, 'update',
               jsonb_object_agg(n.key, old_row -> n.key), jsonb_object_agg(n.key, n.value)
        FROM jsonb_each(new_row) AS n
        WHERE old_row -> n.key IS DISTINCT FROM n.value
        HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END
$$
"""

# A generic plan (PostgreSQL 16+) of a statement the server recorded, placeholders and all:
# parsed like a simple query, so $1 needs no value. The caller runs it read-only.
GENERIC_PLAN = """
CREATE FUNCTION xray_generic_plan(statement text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (GENERIC_PLAN, FORMAT JSON) ' || statement INTO plan;
    RETURN plan;
END
$$
"""


def upgrade() -> None:
    op.add_column("transaction_log", sa.Column("statements", postgresql.JSONB(), nullable=True))
    op.add_column("transaction_log", sa.Column("changes", postgresql.JSONB(), nullable=True))
    op.create_table(
        "xray_changes",
        sa.Column(
            "txid", sa.BigInteger(), server_default=sa.text("txid_current()"), nullable=False
        ),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("table_name", sa.String(length=32), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("before", postgresql.JSONB(), nullable=True),
        sa.Column("after", postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint("txid", "seq", name=op.f("pk_xray_changes")),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "request_traces",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column(
            "published_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("trace", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_request_traces")),
        prefixes=["UNLOGGED"],
    )
    op.create_index(op.f("ix_request_traces_published_at"), "request_traces", ["published_at"])
    op.execute(RECORD_CHANGE)
    op.execute(GENERIC_PLAN)
    for table in TABLES:
        op.execute(
            # The condition is checked without calling the function: a write that records
            # nothing (the seed's COPY, any other client) pays almost nothing per row.
            f"CREATE TRIGGER {table}_xray AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW WHEN (current_setting('stackdeck.xray', true) = 'on') "
            "EXECUTE FUNCTION xray_record_change()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_xray ON {table}")
    op.execute("DROP FUNCTION xray_generic_plan(text)")
    op.execute("DROP FUNCTION xray_record_change()")
    op.drop_index(op.f("ix_request_traces_published_at"), table_name="request_traces")
    op.drop_table("request_traces")
    op.drop_table("xray_changes")
    op.drop_column("transaction_log", "changes")
    op.drop_column("transaction_log", "statements")

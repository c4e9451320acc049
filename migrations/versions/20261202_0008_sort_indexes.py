"""users and posts sortable on keyset pages

A keyset page in any order is an index range scan only when an index has the sort column
followed by the id (the tie-breaker): one (column, id) index per sortable column of users
and of posts.

`post_count` was computed per row (a correlated count over posts); no index can serve an
order by it, so the last page of a sort by it would count every user's posts first. It
becomes a real column, kept right by a trigger on posts (insert, delete, a post moved to
another user), so every writer is covered: the services, the seed's COPY, psql by hand.
The seed counts its own posts and says so with `SET LOCAL stackdeck.seed_counts_posts`,
which the trigger's WHEN clause reads (no event is even queued for a seed's rows).
The upgrade creates the trigger before it backfills, in one transaction: the trigger's
lock on posts keeps writers out until the counts are in. The downgrade drops it all; the
count is derived from posts, so nothing is lost either way.

Revision ID: 0008_sort_indexes
Revises: 0007_xray
Create Date: 2026-12-02 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_sort_indexes"
down_revision: str | Sequence[str] | None = "0007_xray"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# True when upgrade() then downgrade() (and back) keep every row of the tables they touch.
data_preserving = True

SORTABLE = {
    "users": ("name", "email", "created_at", "post_count"),
    "posts": ("created_at", "title"),
}


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("post_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
    )
    op.execute(
        """
        CREATE FUNCTION users_count_posts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                UPDATE users SET post_count = post_count + 1 WHERE id = NEW.user_id;
            END IF;
            IF TG_OP IN ('DELETE', 'UPDATE') THEN
                UPDATE users SET post_count = post_count - 1 WHERE id = OLD.user_id;
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER posts_count_in_users
        AFTER INSERT OR DELETE OR UPDATE OF user_id ON posts
        FOR EACH ROW
        WHEN (current_setting('stackdeck.seed_counts_posts', true) IS DISTINCT FROM 'on')
        EXECUTE FUNCTION users_count_posts()
        """
    )
    op.execute(
        """
        UPDATE users SET post_count = counted.posts
        FROM (SELECT user_id, count(*) AS posts FROM posts GROUP BY user_id) AS counted
        WHERE users.id = counted.user_id
        """
    )
    for table, columns in SORTABLE.items():
        for column in columns:
            op.create_index(f"ix_{table}_{column}_id", table, [column, "id"])


def downgrade() -> None:
    for table, columns in SORTABLE.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}_id", table_name=table)
    op.execute("DROP TRIGGER posts_count_in_users ON posts")
    op.execute("DROP FUNCTION users_count_posts()")
    op.drop_column("users", "post_count")

"""posts published flag

Until now a draft was a post whose title began with "[draft] ", a convention every reader
had to know. This revision makes it a real column: `published` is backfilled from the
titles (a "[draft] " title is unpublished, and loses the prefix), then made NOT NULL with
a default of true, so writers that do not know the flag keep publishing as before.
The downgrade brings the data back the other way: unpublished posts get the prefix again,
then the column goes. Both directions keep every row, so the round trip is lossless; the
downgrade refuses (before changing anything) the rows the old convention cannot express.

Revision ID: 0006_posts_published
Revises: 0005_idempotency_keys
Create Date: 2026-11-23 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_posts_published"
down_revision: str | Sequence[str] | None = "0005_idempotency_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# True when upgrade() then downgrade() (and back) keep every row of the tables they touch.
data_preserving = True

PREFIX = "[draft] "
TITLE_MAX = 200


IS_DRAFT = f"starts_with(title, '{PREFIX}') AND char_length(title) > {len(PREFIX)}"


def upgrade() -> None:
    # Nullable first, so the backfill can run before the constraint holds.
    op.add_column("posts", sa.Column("published", sa.Boolean(), nullable=True))
    op.execute(
        f"""
        UPDATE posts SET
            published = NOT ({IS_DRAFT}),
            title = CASE WHEN {IS_DRAFT} THEN substr(title, {len(PREFIX) + 1}) ELSE title END
        """
    )
    op.alter_column("posts", "published", nullable=False, server_default=sa.true())


def downgrade() -> None:
    # Refuse, before changing anything, what the old convention cannot hold: a draft whose
    # title has no room for the prefix, or a published post whose title would read as one.
    op.execute(
        f"""
        DO $$
        DECLARE too_long bigint; ambiguous bigint;
        BEGIN
            SELECT count(*) FILTER (
                       WHERE NOT published AND char_length(title) > {TITLE_MAX - len(PREFIX)}),
                   count(*) FILTER (WHERE published AND {IS_DRAFT})
              INTO too_long, ambiguous FROM posts;
            IF too_long > 0 THEN
                RAISE EXCEPTION 'cannot downgrade: % unpublished post(s) have titles over % '
                    'characters, too long for the draft prefix',
                    too_long, {TITLE_MAX - len(PREFIX)};
            END IF;
            IF ambiguous > 0 THEN
                RAISE EXCEPTION 'cannot downgrade: % published post(s) have titles that start '
                    'with the draft prefix and would read as drafts', ambiguous;
            END IF;
        END $$
        """
    )
    op.execute(f"UPDATE posts SET title = '{PREFIX}' || title WHERE NOT published")
    op.drop_column("posts", "published")

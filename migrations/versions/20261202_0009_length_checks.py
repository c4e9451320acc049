"""length CHECKs that count characters only when the bytes are over the limit

`char_length` walks a UTF-8 string character by character, so the CHECKs on users' names
and posts' titles and bodies walked every value a bulk load (the seed's COPY) writes.
`octet_length` is the stored size, read without walking (or detoasting) the value. A value
is never longer in characters than in bytes, so `octet_length(x) <= n OR char_length(x) <= n`
is exactly `char_length(x) <= n`, and the executor, which stops an OR at its first true
argument, counts characters only in a value over n bytes. The lower bounds become a test for
the empty string: `char_length(x) >= 1` is `x <> ''`, which a name's `btrim(name) <> ''`
already implied. Same names, same rows accepted and refused.

Each table's constraints are dropped and added again in one ALTER TABLE, which checks the
existing rows against all of them in one scan (detoasting only a body over the limit in
bytes). NOT VALID and a later VALIDATE would not make it lighter: the whole run is one
transaction (see env.py), so the ACCESS EXCLUSIVE lock that the ALTER takes is held until
the run commits anyway, and each VALIDATE would scan the table again. The downgrade puts the
old expressions back the same way.

Revision ID: 0009_length_checks
Revises: 0008_sort_indexes
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_length_checks"
down_revision: str | Sequence[str] | None = "0008_sort_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# True when upgrade() then downgrade() (and back) keep every row of the tables they touch.
data_preserving = True

NAME_MAX = 100
TITLE_MAX = 200
BODY_MAX = 50_000


def at_most(column: str, limit: int) -> str:
    """char_length(column) <= limit, with the characters counted only past limit bytes."""
    return f"(octet_length({column}) <= {limit} OR char_length({column}) <= {limit})"


# table -> constraint -> (the expression before this revision, the expression after it)
CHECKS = {
    "users": {
        "ck_users_name_length": (
            f"char_length(name) BETWEEN 1 AND {NAME_MAX} AND btrim(name) <> ''",
            f"btrim(name) <> '' AND {at_most('name', NAME_MAX)}",
        ),
    },
    "posts": {
        "ck_posts_title_length": (
            f"char_length(title) BETWEEN 1 AND {TITLE_MAX}",
            f"title <> '' AND {at_most('title', TITLE_MAX)}",
        ),
        "ck_posts_body_length": (
            f"char_length(body) <= {BODY_MAX}",
            at_most("body", BODY_MAX),
        ),
    },
}


def replace_checks(upgrading: bool) -> None:
    for table, checks in CHECKS.items():
        drops = [f"DROP CONSTRAINT {name}" for name in checks]
        adds = [
            f"ADD CONSTRAINT {name} CHECK ({new if upgrading else old})"
            for name, (old, new) in checks.items()
        ]
        op.execute(f"ALTER TABLE {table}\n    " + ",\n    ".join(drops + adds))


def upgrade() -> None:
    replace_checks(upgrading=True)


def downgrade() -> None:
    replace_checks(upgrading=False)

"""Bulk inserts with COPY through asyncpg, on the session's own connection and transaction.

Rows travel in PostgreSQL's binary COPY format: no escaping to get wrong and no text to
parse on the server. A caller builds each row from `row_header` and the `*_field` helpers
(pre-encoding what repeats); the copy methods add the stream's header and trailer.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The tables a seed writes: posts reference users.
TABLES = ("users", "posts")

# Every index and foreign key on (or into) the seeded tables, as the DDL that drops it and
# the DDL that builds it again, read from the catalog so the rebuilt schema is exactly the
# migrated one. Constraint-backed indexes (the primary keys) go through their constraint.
_INDEXES_AND_KEYS = text(
    """
    WITH seeded AS (SELECT unnest(CAST(:tables AS regclass[])) AS rel),
    fks AS (
        SELECT 1 AS build_order,
               format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname)
                   AS drop_ddl,
               format('ALTER TABLE %s ADD CONSTRAINT %I %s',
                      c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) AS build_ddl
        FROM pg_constraint c
        WHERE c.contype = 'f'
          AND (c.conrelid IN (SELECT rel FROM seeded) OR c.confrelid IN (SELECT rel FROM seeded))
    ),
    indexes AS (
        SELECT CASE WHEN c.oid IS NULL THEN 0 ELSE -1 END AS build_order,
               CASE WHEN c.oid IS NULL
                    THEN format('DROP INDEX %s', i.indexrelid::regclass)
                    ELSE format('ALTER TABLE %s DROP CONSTRAINT %I', i.indrelid::regclass,
                                c.conname)
               END AS drop_ddl,
               CASE WHEN c.oid IS NULL
                    THEN pg_get_indexdef(i.indexrelid)
                    ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass,
                                c.conname, pg_get_constraintdef(c.oid))
               END AS build_ddl
        FROM pg_index i
        LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')
        WHERE i.indrelid IN (SELECT rel FROM seeded)
    )
    SELECT build_order, drop_ddl, build_ddl FROM fks
    UNION ALL
    SELECT build_order, drop_ddl, build_ddl FROM indexes
    ORDER BY build_order, build_ddl
    """
)


_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # signature, flags, extension
_TRAILER = struct.pack(">h", -1)
_BIGINT = struct.Struct(">iq")
_LENGTH = struct.Struct(">i")


def row_header(fields: int) -> bytes:
    return struct.pack(">h", fields)


def bigint_field(value: int) -> bytes:
    return _BIGINT.pack(8, value)


def text_field(value: str) -> bytes:
    return text_field_bytes(value.encode())


def text_field_bytes(utf8: bytes) -> bytes:
    return _LENGTH.pack(len(utf8)) + utf8


async def _framed(rows: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    yield _HEADER
    async for chunk in rows:
        yield chunk
    yield _TRAILER


@dataclass(frozen=True)
class SuspendedIndexes:
    """What `suspend_indexes` dropped, in the order that builds it back."""

    build: list[str]


class BulkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _driver(self) -> Any:
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        return raw.driver_connection

    async def lock_tables(self, *, exclusive: bool) -> None:
        """Keep other writers of users out until this transaction ends; everyone if `exclusive`.

        SHARE ROW EXCLUSIVE on users lets readers through (and posts writers, whose
        foreign-key checks only share-lock users); ACCESS EXCLUSIVE on both tables is what
        dropping and rebuilding their indexes needs, and nobody sees them half-indexed.
        """
        if exclusive:
            await self.session.execute(
                text(f"LOCK TABLE {', '.join(TABLES)} IN ACCESS EXCLUSIVE MODE")
            )
        else:
            await self.session.execute(text("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"))

    async def approximate_rows(self) -> int:
        """About how many users and posts there are, from their id sequences.

        Reads no table, so it takes no lock on one (a lock taken before `lock_tables` would
        have to be upgraded, which deadlocks two seeds); deletions only make it high.
        """
        result = await self.session.execute(
            text(
                "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('users', 'id')), 0)"
                " + coalesce(pg_sequence_last_value(pg_get_serial_sequence('posts', 'id')), 0)"
            )
        )
        return int(result.scalar_one())

    async def are_empty(self) -> bool:
        """Whether users and posts hold no row at all (call it with the tables locked)."""
        result = await self.session.execute(
            text("SELECT NOT EXISTS (SELECT FROM users) AND NOT EXISTS (SELECT FROM posts)")
        )
        return bool(result.scalar_one())

    async def truncate_empty_tables(self) -> None:
        """Give the empty, exclusively locked tables new files, so COPY can FREEZE into them.

        Rows loaded with FREEZE are written frozen and all-visible: the first reader (or
        autovacuum) does not have to set hint bits on every page of the load afterwards,
        which with data checksums means a full-page image of each page in the WAL. PostgreSQL
        allows FREEZE only into a table created or truncated in the same transaction; these
        are empty, so truncating them removes nothing, and a rollback brings the old files
        back. (As with any FREEZE load, a transaction whose snapshot is older than the
        commit sees the rows too; nobody sees the tables before it.)
        """
        await self.session.execute(text(f"TRUNCATE {', '.join(TABLES)}"))

    async def reserve_user_ids(self, count: int) -> int:
        """The first of `count` consecutive user ids no one else will be handed.

        Call it with the tables locked (`lock_tables`): concurrent writers stay out until
        this transaction ends, so the range after the current maximum is ours; the sequence
        is moved past it.
        """
        first = int(
            (
                await self.session.execute(text("SELECT coalesce(max(id), 0) + 1 FROM users"))
            ).scalar_one()
        )
        if count:
            await self.session.execute(
                text("SELECT setval(pg_get_serial_sequence('users', 'id'), :last)"),
                {"last": first + count - 1},
            )
        return first

    async def suspend_indexes(self) -> SuspendedIndexes:
        """Drop the seeded tables' indexes and foreign keys, to be built once at the end.

        Maintaining them row by row costs more than building them from sorted data, as
        `pgbench -i` does. Transactional DDL: if the transaction rolls back they are back.
        Needs `lock_tables(exclusive=True)`.
        """
        rows = (await self.session.execute(_INDEXES_AND_KEYS, {"tables": list(TABLES)})).all()
        # Foreign keys first: a primary key cannot go while one references it.
        for row in sorted(rows, key=lambda r: -r.build_order):
            await self.session.execute(text(row.drop_ddl))
        return SuspendedIndexes([row.build_ddl for row in rows])

    async def rebuild_indexes(self, suspended: SuspendedIndexes) -> None:
        """Build what `suspend_indexes` dropped: keys, then indexes, then foreign keys.

        A duplicate or a dangling reference fails here, and with it the whole transaction.
        """
        # Sorting needs memory; this is the transaction's own setting, not the server's.
        await self.session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for ddl in suspended.build:
            await self.session.execute(text(ddl))

    async def analyze(self) -> None:
        """Fresh planner statistics: without them a just-seeded million rows is planned as
        the empty table it was, and the first pages crawl (`pgbench -i` vacuums for this)."""
        await self.session.execute(text(f"ANALYZE {', '.join(TABLES)}"))

    async def count_posts_ourselves(self) -> None:
        """Tell the trigger on posts that this transaction writes users' post_count itself.

        Row by row, the trigger would update every seeded user once per post (and queue an
        event for each); the seed knows the counts and writes them with the users.
        """
        await self.session.execute(text("SET LOCAL stackdeck.seed_counts_posts = 'on'"))

    async def copy_users(self, rows: AsyncIterable[bytes], *, freeze: bool = False) -> None:
        """COPY users (id, name, email, post_count): chunks of binary-format rows, streamed
        as they come. `freeze` only after `truncate_empty_tables` in the same transaction.
        """
        await self._copy("users", ["id", "name", "email", "post_count"], rows, freeze)

    async def copy_posts(self, rows: AsyncIterable[bytes], *, freeze: bool = False) -> None:
        """COPY posts (user_id, title, body): chunks of binary-format rows."""
        await self._copy("posts", ["user_id", "title", "body"], rows, freeze)

    async def _copy(
        self, table: str, columns: list[str], rows: AsyncIterable[bytes], freeze: bool
    ) -> None:
        driver = await self._driver()
        await driver.copy_to_table(
            table, source=_framed(rows), columns=columns, format="binary", freeze=freeze or None
        )

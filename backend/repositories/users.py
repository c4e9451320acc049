"""Queries on users: keyset pages, lookups with posts, inserts and deletes."""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    DateTime,
    String,
    Table,
    bindparam,
    delete,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from stackdeck.backend.db.in_transaction import in_transaction
from stackdeck.backend.db.models import Post, User
from stackdeck.backend.db.reads import Reader, ReadStatement, Record
from stackdeck.backend.repositories.keyset import csv_chunk, csv_instant, keyset_page
from stackdeck.backend.repositories.posts import POST_COLUMNS
from stackdeck.backend.schemas.common import Sort
from stackdeck.backend.schemas.users import UserFilters


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class UsersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int, with_posts: bool = False) -> User | None:
        """One user; with posts it is still one statement (a join: a single parent row)."""
        stmt = select(User).where(User.id == user_id)
        if with_posts:
            stmt = stmt.options(joinedload(User.posts))
        return (await self.session.scalars(stmt)).unique().one_or_none()

    async def insert(self, name: str, email: str) -> Record:
        """Insert one user; the new row as the API shows it (no ORM object: a create needs
        none, and the unit-of-work flush cost a write more than its SQL did), on the
        write's own connection (db/in_transaction.py)."""
        statements = await in_transaction(self.session)
        return (await statements.fetch(_INSERT_USER, name=name, email=email))[0]

    async def insert_new(self, rows: list[dict[str, str]]) -> dict[str, int]:
        """Insert the users whose email is free; lower(email) -> id of those inserted.

        ON CONFLICT DO NOTHING lets the caller see exactly which emails were taken,
        even by a concurrent writer, without aborting the transaction.
        """
        stmt = (
            pg_insert(User)
            .values(rows)
            .on_conflict_do_nothing(index_elements=[func.lower(User.email)])
            .returning(func.lower(User.email), User.id)
        )
        return {email: user_id for email, user_id in await self.session.execute(stmt)}

    async def delete(self, user_id: int) -> bool:
        result = await self.session.execute(
            delete(User).where(User.id == user_id).returning(User.id)
        )
        return result.scalar_one_or_none() is not None


# Core tables and columns for the read paths, built once: rows, not ORM objects.
_users = cast(Table, User.__table__)
_posts = cast(Table, Post.__table__)
_authored = _posts.alias("authored")
# In the API's field order: exports write the columns as they come.
USER_COLUMNS = (
    _users.c.id,
    _users.c.name,
    _users.c.email,
    _users.c.post_count,
    _users.c.created_at,
    _users.c.updated_at,
)


# The defaults (id, timestamps, post_count 0) come back from the server with the row.
_INSERT_USER = ReadStatement.compile(
    _users.insert()
    .values(name=bindparam("name"), email=bindparam("email"))
    .returning(*USER_COLUMNS)
)


def _quoted(column: str) -> str:
    return f"""'"' || replace(users.{column}, '"', '""') || '"'"""


# A user as one CSV record, written by PostgreSQL: text fields always quoted, their quotes
# doubled (RFC 4180 allows quoting any field; a comma or line break inside stays data).
# Building it in Python with the csv module cost the most of an export's time.
CSV_RECORD = literal_column(
    "concat_ws(',', users.id, "
    + ", ".join((_quoted("name"), _quoted("email"), "users.post_count"))
    + f", {csv_instant('users.created_at')}, {csv_instant('users.updated_at')})",
    String,
).label("csv_record")
# One user and their posts in one statement: a single parent row, so a join repeats nothing
# that matters. The posts' columns are prefixed (post_*) to keep them apart from the user's.
_WITH_POSTS = ReadStatement.compile(
    select(
        *USER_COLUMNS,
        _authored.c.id.label("post_id"),
        _authored.c.title.label("post_title"),
        _authored.c.body.label("post_body"),
        _authored.c.published.label("post_published"),
        _authored.c.created_at.label("post_created_at"),
    )
    .select_from(_users.outerjoin(_authored, _authored.c.user_id == _users.c.id))
    .where(_users.c.id == bindparam("user_id", type_=BigInteger))
    .order_by(_authored.c.id)
)
_POSTS_OF = ReadStatement.compile(
    select(*POST_COLUMNS)
    .where(_posts.c.user_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
    .order_by(_posts.c.id)
)
_AT = DateTime(timezone=True)
# Each filter's condition, its parameters named after it. No index serves a "contains"
# (pg_trgm is a contrib extension, missing from the embedded server): they filter rows the
# sort's index range yields, or the count's scan.
_SEARCH = bindparam("q", type_=String)
_FILTERS: dict[str, ColumnElement[bool]] = {
    "q": or_(_users.c.name.ilike(_SEARCH), _users.c.email.ilike(_SEARCH)),
    "name": _users.c.name.ilike(bindparam("name", type_=String)),
    "email": _users.c.email.ilike(bindparam("email", type_=String)),
    "created_from": _users.c.created_at >= bindparam("created_from", type_=_AT),
    "created_to": _users.c.created_at < bindparam("created_to", type_=_AT),
    "posts_min": _users.c.post_count >= bindparam("posts_min", type_=BigInteger),
    "posts_max": _users.c.post_count <= bindparam("posts_max", type_=BigInteger),
}
_CONTAINS = frozenset({"q", "name", "email"})


# Shapes (sort, a start key or not, which filters) number a few thousand, few of them used:
# each is compiled on first use, and the SQL text stays the same for asyncpg's cache.
@functools.lru_cache(maxsize=512)
def _page_statement(
    sort: Sort, from_key: bool, filters: frozenset[str], csv_records: bool = False
) -> ReadStatement:
    """A page's statement; with `csv_records`, the page as one chunk of CSV records."""
    keys = [_users.c[name] for name in sort.key_columns()]
    conditions = (_FILTERS[name] for name in sorted(filters))
    if not csv_records:
        return ReadStatement.compile(
            keyset_page(
                USER_COLUMNS, keys, conditions, descending=sort.descending, from_key=from_key
            )
        )
    # A CSV record needs its sort key beside it: where the next chunk starts.
    page = keyset_page(
        (*keys, CSV_RECORD), keys, conditions, descending=sort.descending, from_key=from_key
    )
    return ReadStatement.compile(csv_chunk(page, keys, descending=sort.descending))


@functools.lru_cache(maxsize=128)
def _count_statement(filters: frozenset[str]) -> ReadStatement:
    stmt = select(func.count()).select_from(_users)
    return ReadStatement.compile(stmt.where(*(_FILTERS[name] for name in sorted(filters))))


def _filter_params(filters: UserFilters) -> dict[str, Any]:
    params = dict(filters.given())
    for name in _CONTAINS & params.keys():
        params[name] = _like_pattern(params[name])
    return params


class UserRows:
    """Read-only queries on users, on a read connection; they return records.

    The statements are compiled once, so each execution is one prepared statement on the
    connection (asyncpg keeps them per connection).
    """

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def with_posts(self, user_id: int) -> list[Record]:
        """The user's row once per post (post_* columns None when they have none)."""
        return await self.reader.fetch(_WITH_POSTS, user_id=user_id)

    async def page(
        self,
        sort: Sort,
        filters: UserFilters,
        start: tuple[Any, ...] | None,
        limit: int,
        csv_records: bool = False,
    ) -> list[Record]:
        """Up to `limit` users past the sort key `start` (from the first if None); with
        `csv_records`, one row of them as CSV (USER_FIELDS; see keyset.csv_chunk).

        A (column, id) index serves each order both ways, so the last page of a million
        rows costs what the first does.
        """
        statement = _page_statement(sort, start is not None, filters.shape(), csv_records)
        params = _filter_params(filters) | {"limit": limit}
        params |= {f"key{i}": value for i, value in enumerate(start or ())}
        return await self.reader.fetch(statement, **params)

    async def count(self, filters: UserFilters) -> int:
        rows = await self.reader.fetch(_count_statement(filters.shape()), **_filter_params(filters))
        return int(rows[0][0])

    async def posts_of(self, user_ids: list[int]) -> list[Record]:
        """Every post of these users in one statement, whatever their number."""
        if not user_ids:
            return []
        return await self.reader.fetch(_POSTS_OF, ids=user_ids)

"""Queries on users: keyset pages, lookups with posts, inserts and deletes."""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    String,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, undefer

from stackdeck.backend.db.models import Post, User
from stackdeck.backend.db.reads import Reader, ReadStatement, Record
from stackdeck.backend.repositories.posts import POST_COLUMNS


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class UsersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int, with_posts: bool = False) -> User | None:
        """One user; with posts it is still one statement (a join: a single parent row)."""
        stmt = select(User).options(undefer(User.post_count)).where(User.id == user_id)
        if with_posts:
            stmt = stmt.options(joinedload(User.posts))
        return (await self.session.scalars(stmt)).unique().one_or_none()

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

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
_POST_COUNT = (
    select(func.count(_posts.c.id))
    .where(_posts.c.user_id == _users.c.id)
    .correlate(_users)
    .scalar_subquery()
    .label("post_count")
)
USER_COLUMNS = (
    _users.c.id,
    _users.c.name,
    _users.c.email,
    _users.c.created_at,
    _users.c.updated_at,
    _POST_COUNT,
)
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
_PATTERN = bindparam("pattern", type_=String)
_MATCHES = or_(_users.c.name.ilike(_PATTERN), _users.c.email.ilike(_PATTERN))


@functools.cache
def _page_statement(after: bool, search: bool, descending: bool) -> ReadStatement:
    """Each shape of page is compiled once, on first use (eight shapes in all)."""
    stmt = select(*USER_COLUMNS).limit(bindparam("limit", type_=BigInteger))
    stmt = stmt.order_by(_users.c.id.desc() if descending else _users.c.id)
    if after:
        cursor = bindparam("after", type_=BigInteger)
        stmt = stmt.where(_users.c.id < cursor if descending else _users.c.id > cursor)
    if search:
        stmt = stmt.where(_MATCHES)
    return ReadStatement.compile(stmt)


@functools.cache
def _count_statement(search: bool) -> ReadStatement:
    stmt = select(func.count()).select_from(_users)
    return ReadStatement.compile(stmt.where(_MATCHES) if search else stmt)


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

    async def page_after(
        self,
        after: int | None,
        limit: int,
        q: str | None = None,
        descending: bool = False,
    ) -> list[Record]:
        """Up to `limit` users past `after` in id order (or reverse id order).

        The primary key index serves both directions, so the last page of a million rows
        costs what the first does.
        """
        statement = _page_statement(after is not None, bool(q), descending)
        params: dict[str, Any] = {"limit": limit, "after": after}
        if q:
            params["pattern"] = _like_pattern(q)
        return await self.reader.fetch(statement, **params)

    async def count(self, q: str | None = None) -> int:
        params = {"pattern": _like_pattern(q)} if q else {}
        rows = await self.reader.fetch(_count_statement(bool(q)), **params)
        return int(rows[0][0])

    async def posts_of(self, user_ids: list[int]) -> list[Record]:
        """Every post of these users in one statement, whatever their number."""
        if not user_ids:
            return []
        return await self.reader.fetch(_POSTS_OF, ids=user_ids)

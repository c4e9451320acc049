"""Queries on users: keyset pages, lookups with posts, inserts and deletes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Row,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import joinedload, undefer

from backend.db.models import Post, User


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(q: str) -> ColumnElement[bool]:
    pattern = _like_pattern(q)
    return or_(User.name.ilike(pattern), User.email.ilike(pattern))


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


AnyRow = Row[*tuple[Any, ...]]

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
POST_COLUMNS = (
    _posts.c.id,
    _posts.c.user_id,
    _posts.c.title,
    _posts.c.body,
    _posts.c.published,
    _posts.c.created_at,
)
# One user and their posts in one statement: a single parent row, so a join repeats nothing
# that matters. The posts' columns are prefixed (post_*) to keep them apart from the user's.
_WITH_POSTS = (
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
_POSTS_OF = (
    select(*POST_COLUMNS)
    .where(_posts.c.user_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
    .order_by(_posts.c.id)
)


class UserRows:
    """Read-only queries on users as Core statements on a connection; they return rows.

    The statements are built once, so each execution is a compiled-cache hit and one
    prepared statement on the connection.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def with_posts(self, user_id: int) -> Sequence[AnyRow]:
        """The user's row once per post (post_* columns None when they have none)."""
        result = await self.connection.execute(_WITH_POSTS, {"user_id": user_id})
        return result.all()

    async def page_after(
        self,
        after: int | None,
        limit: int,
        q: str | None = None,
        descending: bool = False,
    ) -> Sequence[AnyRow]:
        """Up to `limit` users past `after` in id order (or reverse id order).

        The primary key index serves both directions, so the last page of a million rows
        costs what the first does.
        """
        stmt = select(*USER_COLUMNS).limit(bindparam("limit", type_=BigInteger))
        stmt = stmt.order_by(_users.c.id.desc() if descending else _users.c.id)
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            cursor = bindparam("after", type_=BigInteger)
            stmt = stmt.where(_users.c.id < cursor if descending else _users.c.id > cursor)
            params["after"] = after
        if q:
            stmt = stmt.where(_matches(q))
        return (await self.connection.execute(stmt, params)).all()

    async def count(self, q: str | None = None) -> int:
        stmt = select(func.count()).select_from(_users)
        if q:
            stmt = stmt.where(_matches(q))
        return int((await self.connection.execute(stmt)).scalar_one())

    async def posts_of(self, user_ids: list[int]) -> Sequence[AnyRow]:
        """Every post of these users in one statement, whatever their number."""
        if not user_ids:
            return []
        return (await self.connection.execute(_POSTS_OF, {"ids": user_ids})).all()

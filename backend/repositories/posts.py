"""Queries on posts: keyset pages and lookups (read path), inserts, updates and deletes."""

from __future__ import annotations

import functools
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.db.models import Post
from stackdeck.backend.db.reads import Reader, ReadStatement, Record


class PostsRepository:
    """Posts inside a write's unit of work: ORM objects on its session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, post_id: int) -> Post | None:
        return await self.session.get(Post, post_id)

    async def add(self, post: Post) -> Post:
        self.session.add(post)
        await self.session.flush()
        return post

    async def insert_many(self, rows: list[dict[str, object]]) -> None:
        if rows:
            await self.session.execute(insert(Post), rows)

    async def delete(self, post_id: int) -> bool:
        result = await self.session.execute(
            delete(Post).where(Post.id == post_id).returning(Post.id)
        )
        return result.scalar_one_or_none() is not None


_posts = cast(Table, Post.__table__)
POST_COLUMNS = (
    _posts.c.id,
    _posts.c.user_id,
    _posts.c.title,
    _posts.c.body,
    _posts.c.published,
    _posts.c.created_at,
)
_ONE = ReadStatement.compile(
    select(*POST_COLUMNS).where(_posts.c.id == bindparam("post_id", type_=BigInteger))
)


@functools.cache
def _page_statement(after: bool, of_user: bool) -> ReadStatement:
    """Each shape of page is compiled once, on first use (four shapes in all)."""
    stmt = select(*POST_COLUMNS).order_by(_posts.c.id).limit(bindparam("limit", type_=BigInteger))
    if after:
        stmt = stmt.where(_posts.c.id > bindparam("after", type_=BigInteger))
    if of_user:
        stmt = stmt.where(_posts.c.user_id == bindparam("user_id", type_=BigInteger))
    return ReadStatement.compile(stmt)


class PostRows:
    """Read-only queries on posts, on a read connection; they return records."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def page_after(self, after: int | None, limit: int, user_id: int | None) -> list[Record]:
        statement = _page_statement(after is not None, user_id is not None)
        return await self.reader.fetch(statement, limit=limit, after=after, user_id=user_id)

    async def get(self, post_id: int) -> Record | None:
        rows = await self.reader.fetch(_ONE, post_id=post_id)
        return rows[0] if rows else None

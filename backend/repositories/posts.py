"""Queries on posts: keyset pages and lookups (read path), inserts, updates and deletes."""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.db.models import Post
from stackdeck.backend.db.reads import Reader, ReadStatement, Record
from stackdeck.backend.repositories.keyset import csv_chunk, csv_instant, keyset_page
from stackdeck.backend.schemas.common import Sort
from stackdeck.backend.schemas.posts import PostFilters


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


_FILTERS: dict[str, ColumnElement[bool]] = {
    "user_id": _posts.c.user_id == bindparam("user_id", type_=BigInteger),
    "published": _posts.c.published == bindparam("published", type_=Boolean),
}
# A post as one CSV record, written by PostgreSQL (as users' CSV_RECORD): text quoted with
# its quotes doubled, the flag as true/false, the instant in PostgreSQL's ISO 8601 text (UTC).
CSV_RECORD = literal_column(
    "concat_ws(',', posts.id, posts.user_id, "
    + ", ".join(f"""'"' || replace(posts.{c}, '"', '""') || '"'""" for c in ("title", "body"))
    + ", CASE WHEN posts.published THEN 'true' ELSE 'false' END, "
    + f"{csv_instant('posts.created_at')})",
    String,
).label("csv_record")


@functools.lru_cache(maxsize=128)
def _page_statement(
    sort: Sort, from_key: bool, filters: frozenset[str], csv_records: bool = False
) -> ReadStatement:
    """Each shape of page (sort, a start key or not, which filters) compiled on first use."""
    keys = [_posts.c[name] for name in sort.key_columns()]
    conditions = (_FILTERS[name] for name in sorted(filters))
    if not csv_records:
        return ReadStatement.compile(
            keyset_page(
                POST_COLUMNS, keys, conditions, descending=sort.descending, from_key=from_key
            )
        )
    page = keyset_page(
        (*keys, CSV_RECORD), keys, conditions, descending=sort.descending, from_key=from_key
    )
    return ReadStatement.compile(csv_chunk(page, keys, descending=sort.descending))


@functools.lru_cache(maxsize=8)
def _count_statement(filters: frozenset[str]) -> ReadStatement:
    stmt = select(func.count()).select_from(_posts)
    return ReadStatement.compile(stmt.where(*(_FILTERS[name] for name in sorted(filters))))


class PostRows:
    """Read-only queries on posts, on a read connection; they return records."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    async def page(
        self,
        sort: Sort,
        filters: PostFilters,
        start: tuple[Any, ...] | None,
        limit: int,
        csv_records: bool = False,
    ) -> list[Record]:
        """Up to `limit` posts past the sort key `start`; a (column, id) index serves each
        order both ways. With `csv_records`, one row of them as CSV (keyset.csv_chunk)."""
        statement = _page_statement(sort, start is not None, filters.shape(), csv_records)
        params = filters.given() | {"limit": limit}
        params |= {f"key{i}": value for i, value in enumerate(start or ())}
        return await self.reader.fetch(statement, **params)

    async def count(self, filters: PostFilters) -> int:
        rows = await self.reader.fetch(_count_statement(filters.shape()), **filters.given())
        return int(rows[0][0])

    async def get(self, post_id: int) -> Record | None:
        rows = await self.reader.fetch(_ONE, post_id=post_id)
        return rows[0] if rows else None

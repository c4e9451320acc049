"""Queries on posts: keyset pages, lookups, inserts and deletes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.db.models import Post


class PostsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page_after(
        self, after: int | None, limit: int, user_id: int | None
    ) -> Sequence[Post]:
        stmt = select(Post).order_by(Post.id).limit(limit)
        if after is not None:
            stmt = stmt.where(Post.id > after)
        if user_id is not None:
            stmt = stmt.where(Post.user_id == user_id)
        return (await self.session.scalars(stmt)).all()

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

"""Queries on users: keyset pages, lookups with posts, inserts and deletes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload, undefer

from backend.db.models import User


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class UsersRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def page_after(
        self, after: int | None, limit: int, q: str | None = None, with_posts: bool = False
    ) -> Sequence[User]:
        """Up to `limit` users with id > `after`, by id; one statement (two with posts)."""
        stmt = select(User).options(undefer(User.post_count)).order_by(User.id).limit(limit)
        if after is not None:
            stmt = stmt.where(User.id > after)
        if q:
            pattern = _like_pattern(q)
            stmt = stmt.where(or_(User.name.ilike(pattern), User.email.ilike(pattern)))
        if with_posts:
            stmt = stmt.options(selectinload(User.posts))
        return (await self.session.scalars(stmt)).all()

    async def get(self, user_id: int, with_posts: bool = False) -> User | None:
        stmt = select(User).options(undefer(User.post_count)).where(User.id == user_id)
        if with_posts:
            stmt = stmt.options(selectinload(User.posts))
        return (await self.session.scalars(stmt)).one_or_none()

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def delete(self, user_id: int) -> bool:
        result = await self.session.execute(
            delete(User).where(User.id == user_id).returning(User.id)
        )
        return result.scalar_one_or_none() is not None

"""Queries on users: keyset pages, lookups with posts, inserts and deletes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ARRAY, BigInteger, ColumnElement, bindparam, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, undefer
from sqlalchemy.orm.attributes import set_committed_value

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

    async def page_after(
        self,
        after: int | None,
        limit: int,
        q: str | None = None,
        with_posts: bool = False,
        descending: bool = False,
    ) -> Sequence[User]:
        """Up to `limit` users past `after` in id order (or reverse id order).

        One statement, two with posts: the primary key index serves both directions,
        so the last page of a million rows costs what the first does.
        """
        stmt = select(User).options(undefer(User.post_count)).limit(limit)
        stmt = stmt.order_by(User.id.desc() if descending else User.id)
        if after is not None:
            stmt = stmt.where(User.id < after if descending else User.id > after)
        if q:
            stmt = stmt.where(_matches(q))
        users = (await self.session.scalars(stmt)).all()
        if with_posts:
            await self.attach_posts(users)
        return users

    async def attach_posts(self, users: Sequence[User]) -> None:
        """Load the users' posts in one statement, whatever the number of users.

        What selectinload does, with one array parameter instead of a list of bind
        parameters: the SQL text is the same for any page size, so it is compiled and
        prepared once, and it never splits into chunks of 500.
        """
        by_user: dict[int, list[Post]] = {user.id: [] for user in users}
        if by_user:
            stmt = (
                select(Post)
                .where(Post.user_id == func.any(bindparam("ids", type_=ARRAY(BigInteger))))
                .order_by(Post.id)
            )
            for post in await self.session.scalars(stmt, {"ids": list(by_user)}):
                by_user[post.user_id].append(post)
        for user in users:
            set_committed_value(user, "posts", by_user[user.id])

    async def count(self, q: str | None = None) -> int:
        stmt = select(func.count()).select_from(User)
        if q:
            stmt = stmt.where(_matches(q))
        return int(await self.session.scalar(stmt) or 0)

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

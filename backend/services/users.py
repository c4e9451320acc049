"""Use cases on users: list, read, create, update and delete, each one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from stackdeck.backend.db.errors import (
    INTEGRITY_ERRORS,
    UNIQUE_VIOLATION,
    constraint_name,
    sqlstate,
)
from stackdeck.backend.db.reads import ReadPool, Record
from stackdeck.backend.errors import Conflict, NotFound
from stackdeck.backend.repositories.posts import PostsRepository
from stackdeck.backend.repositories.users import UserRows, UsersRepository
from stackdeck.backend.schemas.common import Sort, Start
from stackdeck.backend.schemas.transactions import BatchResult, UserBatch
from stackdeck.backend.schemas.users import (
    UserCreate,
    UserFilters,
    UserRead,
    UserUpdate,
    UserWithPosts,
)
from stackdeck.backend.services.idempotency import IdempotentWrite
from stackdeck.backend.services.paging import (
    EXPORT_CHUNK_ROWS,
    Chunk,
    Edges,
    csv_chunk,
    key_of,
    keyset_chunks,
    read_order,
    rows_chunk,
    sorted_page,
)
from stackdeck.backend.services.unit_of_work import Outcome, UnitOfWork


def email_conflict(exc: Exception, email: str | None) -> Exception:
    """The unique index on lower(email) becomes a Conflict; anything else stays as it is."""
    if sqlstate(exc) == UNIQUE_VIOLATION and constraint_name(exc) == "uq_users_email_lower":
        return Conflict(f"email already exists: {email}" if email else "email already exists")
    return exc


_USERS = TypeAdapter(list[UserRead])
_USERS_WITH_POSTS = TypeAdapter(list[UserWithPosts])
_POST_FIELDS = ("id", "title", "body", "published", "created_at")


async def _read_page(
    rows: UserRows, sort: Sort, filters: UserFilters, start: Start | None, limit: int
) -> list[Record]:
    """The page's rows as its one statement reads them: a row more than the page holds."""
    key = None if start is None else start.key
    return await rows.page(read_order(sort, start), filters, key, limit + 1)


class UserQueries:
    """Reads of users: rows mapped straight to the API's schemas, no ORM objects between.

    Each read checks a connection out of the read pool (autocommit: no BEGIN and no
    COMMIT, a single statement sees one snapshot anyway) and returns it as soon as the
    rows are in, before any mapping is done. `min_lsn`: the reader must see every commit
    up to this WAL position (its own writes).
    """

    export_chunk_rows = EXPORT_CHUNK_ROWS  # a class attribute: tests make it small

    def __init__(self, reads: ReadPool, min_lsn: int | None = None) -> None:
        self.reads = reads
        self.min_lsn = min_lsn

    async def get(self, user_id: int) -> UserWithPosts:
        async with self.reads.connection(self.min_lsn) as connection:
            rows = await UserRows(connection).with_posts(user_id)
        if not rows:
            raise NotFound(f"user {user_id} does not exist")
        first = rows[0]
        user: dict[str, Any] = {
            "id": first["id"],
            "name": first["name"],
            "email": first["email"],
            "post_count": first["post_count"],
            "created_at": first["created_at"],
            "updated_at": first["updated_at"],
            "posts": [
                {
                    "user_id": user_id,
                    **{name: row[f"post_{name}"] for name in _POST_FIELDS},
                }
                for row in rows
                if row["post_id"] is not None
            ],
        }
        return UserWithPosts.model_validate(user)

    async def page(
        self,
        sort: Sort,
        filters: UserFilters,
        start: Start | None,
        limit: int,
    ) -> tuple[list[UserRead], Edges]:
        """A keyset page in one statement, whatever its size, order, filters and direction;
        and the sort keys the pages on either side are found from."""
        async with self.reads.connection(self.min_lsn) as connection:
            rows = await _read_page(UserRows(connection), sort, filters, start, limit)
        page, edges = sorted_page(rows, limit, start, key_of(sort.key_columns()))
        return _USERS.validate_python([dict(row) for row in page]), edges

    async def page_with_posts(
        self,
        sort: Sort,
        filters: UserFilters,
        start: Start | None,
        limit: int,
    ) -> tuple[list[UserWithPosts], Edges]:
        """A keyset page and its users' posts: two statements, whatever its size."""
        async with self.reads.connection(self.min_lsn) as connection:
            repository = UserRows(connection)
            rows = await _read_page(repository, sort, filters, start, limit)
            page, edges = sorted_page(rows, limit, start, key_of(sort.key_columns()))
            posts = await repository.posts_of([row["id"] for row in page])
        users = [dict(row) for row in page]
        by_user: dict[int, list[dict[str, Any]]] = {}
        for user in users:
            user["posts"] = by_user[user["id"]] = []
        for post in posts:
            by_user[post["user_id"]].append(dict(post))
        return _USERS_WITH_POSTS.validate_python(users), edges

    async def count(self, filters: UserFilters) -> int:
        async with self.reads.connection(self.min_lsn) as connection:
            return await UserRows(connection).count(filters)

    async def export(self, sort: Sort, filters: UserFilters) -> AsyncIterator[list[Record]]:
        """Every matching user in order (USER_FIELDS), a keyset chunk at a time: memory
        holds a chunk or two, however many rows there are.
        Each chunk checks a read connection out and returns it: a client that downloads
        slowly holds no connection while it does (so an export is not one snapshot; see
        keyset_chunks).
        """
        chunk_rows = self.export_chunk_rows
        key = key_of(sort.key_columns())

        async def chunk(start: tuple[Any, ...] | None) -> Chunk[list[Record]]:
            async with self.reads.connection(self.min_lsn) as connection:
                return rows_chunk(
                    await UserRows(connection).page(sort, filters, start, chunk_rows), key
                )

        async for rows in keyset_chunks(chunk, chunk_rows):
            yield rows

    async def export_csv(self, sort: Sort, filters: UserFilters) -> AsyncIterator[bytes]:
        """As `export`, each chunk its CSV records (CRLF-terminated UTF-8), written by
        PostgreSQL in the chunk's one statement."""
        chunk_rows = self.export_chunk_rows

        async def chunk(start: tuple[Any, ...] | None) -> Chunk[bytes]:
            async with self.reads.connection(self.min_lsn) as connection:
                rows = UserRows(connection)
                [record] = await rows.page(sort, filters, start, chunk_rows, csv_records=True)
            return csv_chunk(record)

        async for records in keyset_chunks(chunk, chunk_rows):
            yield records


class UsersService:
    def __init__(
        self,
        session: AsyncSession,
        idempotency: IdempotentWrite | None = None,
        reads: ReadPool | None = None,
    ) -> None:
        self.uow = UnitOfWork(session, idempotency, reads)
        self.users = UsersRepository(session)

    async def create(self, data: UserCreate) -> UserRead:
        async def work(outcome: Outcome) -> UserRead:
            try:
                row = await self.users.insert(data.name, data.email)
            except INTEGRITY_ERRORS as exc:
                raise email_conflict(exc, data.email) from None
            outcome.entity_id = row["id"]
            return UserRead.model_validate(dict(row))

        return await self.uow.write("users.create", "user", work, UserRead)

    async def update(self, user_id: int, data: UserUpdate) -> UserRead:
        changes = data.model_dump(exclude_unset=True)

        async def work(outcome: Outcome) -> UserRead:
            outcome.entity_id = user_id
            user = await self.users.get(user_id, with_posts=True)
            if user is None:
                raise NotFound(f"user {user_id} does not exist")
            for name, value in changes.items():
                setattr(user, name, value)
            try:
                await self.users.session.flush()
            except INTEGRITY_ERRORS as exc:
                raise email_conflict(exc, changes.get("email")) from None
            except StaleDataError:
                # Deleted by a concurrent request between our read and our update.
                raise NotFound(f"user {user_id} does not exist") from None
            return UserRead.model_validate(user)

        return await self.uow.write("users.update", "user", work, UserRead)

    async def create_batch(self, batch: UserBatch) -> BatchResult:
        """All users and their posts in one transaction, or nothing at all."""

        async def work(outcome: Outcome) -> BatchResult:
            seen: dict[str, int] = {}
            for index, item in enumerate(batch.users):
                key = item.email.lower()
                if key in seen:
                    raise Conflict(f"users[{index}]: email {item.email} repeats users[{seen[key]}]")
                seen[key] = index
            inserted = await self.users.insert_new(
                [{"name": u.name, "email": u.email} for u in batch.users]
            )
            for index, item in enumerate(batch.users):
                if item.email.lower() not in inserted:
                    raise Conflict(f"users[{index}]: email already exists: {item.email}")
            user_ids = [inserted[u.email.lower()] for u in batch.users]
            posts = [
                {"user_id": user_id, "title": post.title, "body": post.body}
                for user_id, item in zip(user_ids, batch.users, strict=True)
                for post in item.posts
            ]
            await PostsRepository(self.users.session).insert_many(posts)
            outcome.entity_id = user_ids[0]
            return BatchResult(created=len(user_ids), user_ids=user_ids, post_count=len(posts))

        return await self.uow.write("users.batch", "user", work, BatchResult)

    async def delete(self, user_id: int) -> None:
        async def work(outcome: Outcome) -> None:
            outcome.entity_id = user_id
            if not await self.users.delete(user_id):
                raise NotFound(f"user {user_id} does not exist")

        await self.uow.write("users.delete", "user", work, type(None))

"""Use cases on posts: list, read, create, update and delete, each one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from stackdeck.backend.db.errors import FOREIGN_KEY_VIOLATION, sqlstate
from stackdeck.backend.db.models import Post
from stackdeck.backend.db.reads import ReadPool, Record
from stackdeck.backend.errors import FieldError, InvalidInput, NotFound
from stackdeck.backend.repositories.posts import PostRows, PostsRepository
from stackdeck.backend.schemas.common import Sort, Start
from stackdeck.backend.schemas.posts import PostCreate, PostFilters, PostRead, PostUpdate
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


def missing_author(exc: IntegrityError, user_id: int) -> Exception:
    if sqlstate(exc) == FOREIGN_KEY_VIOLATION:
        message = f"user {user_id} does not exist"
        return InvalidInput(message, [FieldError("user_id", message)])
    return exc


_POSTS = TypeAdapter(list[PostRead])


class PostQueries:
    """Reads of posts, on the read path: rows mapped straight to the API's schemas.

    `min_lsn`: the reader must see every commit up to this WAL position (its own writes).
    """

    export_chunk_rows = EXPORT_CHUNK_ROWS  # a class attribute: tests make it small

    def __init__(self, reads: ReadPool, min_lsn: int | None = None) -> None:
        self.reads = reads
        self.min_lsn = min_lsn

    async def page(
        self, sort: Sort, filters: PostFilters, start: Start | None, limit: int
    ) -> tuple[list[PostRead], Edges]:
        """A keyset page in one statement, whatever its order, filters and direction, and
        the sort keys the pages on either side are found from."""
        key = None if start is None else start.key
        async with self.reads.connection(self.min_lsn) as connection:
            rows = await PostRows(connection).page(read_order(sort, start), filters, key, limit + 1)
        page, edges = sorted_page(rows, limit, start, key_of(sort.key_columns()))
        return _POSTS.validate_python([dict(row) for row in page]), edges

    async def count(self, filters: PostFilters) -> int:
        async with self.reads.connection(self.min_lsn) as connection:
            return await PostRows(connection).count(filters)

    async def export(self, sort: Sort, filters: PostFilters) -> AsyncIterator[list[Record]]:
        """Every matching post in order (POST_FIELDS), a keyset chunk at a time: memory
        holds a chunk or two, however many rows there are.
        """
        chunk_rows = self.export_chunk_rows
        key = key_of(sort.key_columns())

        async def chunk(start: tuple[Any, ...] | None) -> Chunk[list[Record]]:
            async with self.reads.connection(self.min_lsn) as connection:
                return rows_chunk(
                    await PostRows(connection).page(sort, filters, start, chunk_rows), key
                )

        async for rows in keyset_chunks(chunk, chunk_rows):
            yield rows

    async def export_csv(self, sort: Sort, filters: PostFilters) -> AsyncIterator[bytes]:
        """As `export`, each chunk its CSV records (CRLF-terminated UTF-8), written by
        PostgreSQL in the chunk's one statement."""
        chunk_rows = self.export_chunk_rows

        async def chunk(start: tuple[Any, ...] | None) -> Chunk[bytes]:
            async with self.reads.connection(self.min_lsn) as connection:
                rows = PostRows(connection)
                [record] = await rows.page(sort, filters, start, chunk_rows, csv_records=True)
            return csv_chunk(record)

        async for records in keyset_chunks(chunk, chunk_rows):
            yield records

    async def get(self, post_id: int) -> PostRead:
        async with self.reads.connection(self.min_lsn) as connection:
            row = await PostRows(connection).get(post_id)
        if row is None:
            raise NotFound(f"post {post_id} does not exist")
        return PostRead.model_validate(dict(row))


class PostsService:
    def __init__(
        self,
        session: AsyncSession,
        idempotency: IdempotentWrite | None = None,
        reads: ReadPool | None = None,
    ) -> None:
        self.uow = UnitOfWork(session, idempotency, reads)
        self.posts = PostsRepository(session)

    async def create(self, data: PostCreate) -> PostRead:
        async def work(outcome: Outcome) -> PostRead:
            post = Post(
                user_id=data.user_id, title=data.title, body=data.body, published=data.published
            )
            try:
                await self.posts.add(post)
            except IntegrityError as exc:
                raise missing_author(exc, data.user_id) from None
            outcome.entity_id = post.id
            return PostRead.model_validate(post)

        return await self.uow.write("posts.create", "post", work, PostRead)

    async def update(self, post_id: int, data: PostUpdate) -> PostRead:
        async def work(outcome: Outcome) -> PostRead:
            outcome.entity_id = post_id
            post = await self.posts.get(post_id)
            if post is None:
                raise NotFound(f"post {post_id} does not exist")
            for name, value in data.model_dump(exclude_unset=True).items():
                setattr(post, name, value)
            try:
                await self.posts.session.flush()
            except StaleDataError:
                # Deleted (or its author was) by a concurrent request since our read.
                raise NotFound(f"post {post_id} does not exist") from None
            return PostRead.model_validate(post)

        return await self.uow.write("posts.update", "post", work, PostRead)

    async def delete(self, post_id: int) -> None:
        async def work(outcome: Outcome) -> None:
            outcome.entity_id = post_id
            if not await self.posts.delete(post_id):
                raise NotFound(f"post {post_id} does not exist")

        await self.uow.write("posts.delete", "post", work, type(None))

"""The injected things, named once: route signatures then read like a sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.api.idempotency import idempotent_write
from stackdeck.backend.db.connections import PoolerCheck
from stackdeck.backend.services.idempotency import IdempotentWrite
from stackdeck.backend.services.migrations import MigrationsService
from stackdeck.backend.services.posts import PostsService
from stackdeck.backend.services.transactions import TransactionsService, TransactionStream
from stackdeck.backend.services.users import UserQueries, UsersService


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Services commit inside their own unit of work; closing here only returns the session.
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


IdempotencyDep = Annotated[IdempotentWrite | None, Depends(idempotent_write)]


async def users_service(session: SessionDep, idempotency: IdempotencyDep) -> UsersService:
    return UsersService(session, idempotency)


async def posts_service(session: SessionDep, idempotency: IdempotencyDep) -> PostsService:
    return PostsService(session, idempotency)


UsersServiceDep = Annotated[UsersService, Depends(users_service)]


async def user_queries(request: Request) -> UserQueries:
    # One per app, holding no session: reads need no sub-dependency and no teardown.
    queries: UserQueries = request.app.state.user_queries
    return queries


UserQueriesDep = Annotated[UserQueries, Depends(user_queries)]
PostsServiceDep = Annotated[PostsService, Depends(posts_service)]


async def transactions_service(session: SessionDep) -> TransactionsService:
    return TransactionsService(session)


TransactionsServiceDep = Annotated[TransactionsService, Depends(transactions_service)]


async def transaction_streams(request: Request) -> Callable[[int | None], TransactionStream]:
    # async def: FastAPI runs plain def dependencies in a thread pool, a hop per request.
    # A stream holds no session: it opens short ones only to replay from the table.
    state = request.app.state
    return lambda last_id: TransactionStream(state.sessions, state.events, last_id)


TransactionStreamFactoryDep = Annotated[
    Callable[[int | None], TransactionStream], Depends(transaction_streams)
]


def migrations_service(request: Request) -> MigrationsService:
    # One per app: it caches the revision scripts; runs open their own connection.
    service: MigrationsService = request.app.state.migrations
    return service


MigrationsServiceDep = Annotated[MigrationsService, Depends(migrations_service)]


def pooler_check(request: Request) -> PoolerCheck:
    check: PoolerCheck = request.app.state.pooler
    return check


PoolerCheckDep = Annotated[PoolerCheck, Depends(pooler_check)]

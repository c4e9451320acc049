"""The injected things, named once: route signatures then read like a sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from backend.services.posts import PostsService
from backend.services.transactions import TransactionsService, TransactionStream
from backend.services.users import UsersService


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Services commit inside their own unit of work; closing here only returns the session.
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def users_service(session: SessionDep) -> UsersService:
    return UsersService(session)


def posts_service(session: SessionDep) -> PostsService:
    return PostsService(session)


UsersServiceDep = Annotated[UsersService, Depends(users_service)]
PostsServiceDep = Annotated[PostsService, Depends(posts_service)]


def transactions_service(session: SessionDep) -> TransactionsService:
    return TransactionsService(session)


TransactionsServiceDep = Annotated[TransactionsService, Depends(transactions_service)]


def transaction_streams(request: Request) -> Callable[[int | None], TransactionStream]:
    # A stream holds no session: it opens short ones only to replay from the table.
    state = request.app.state
    return lambda last_id: TransactionStream(state.sessions, state.events, last_id)


TransactionStreamFactoryDep = Annotated[
    Callable[[int | None], TransactionStream], Depends(transaction_streams)
]

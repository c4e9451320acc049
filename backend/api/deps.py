"""The injected things, named once: route signatures then read like a sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.api.idempotency import IdempotencyKeyHeader, idempotent_write
from stackdeck.backend.api.read_your_writes import LSN_PATTERN, MIN_LSN_HEADER
from stackdeck.backend.db.connections import PoolerCheck
from stackdeck.backend.db.reads import ReadPool
from stackdeck.backend.db.standby import parse_lsn
from stackdeck.backend.services.migrations import MigrationsService
from stackdeck.backend.services.posts import PostQueries, PostsService
from stackdeck.backend.services.transactions import TransactionQueries, TransactionStream
from stackdeck.backend.services.users import UserQueries, UsersService
from stackdeck.backend.services.xray import RequestTraces


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    # Services commit inside their own unit of work; closing here only returns the session.
    async with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


# The write services take their session, key and read pool in one dependency, not three:
# FastAPI solves every level of dependencies per request (a yield dependency's exit stack
# too), a tenth of a write's CPU. The unit of work closes the session after its write.
# Writes read their commit's WAL position on the read pool (ReadPool.wal_position).
async def users_service(
    request: Request, response: Response, key: IdempotencyKeyHeader = None
) -> UsersService:
    idempotency = await idempotent_write(request, response, key)
    return UsersService(request.app.state.sessions(), idempotency, _reads(request))


async def posts_service(
    request: Request, response: Response, key: IdempotencyKeyHeader = None
) -> PostsService:
    idempotency = await idempotent_write(request, response, key)
    return PostsService(request.app.state.sessions(), idempotency, _reads(request))


UsersServiceDep = Annotated[UsersService, Depends(users_service)]
PostsServiceDep = Annotated[PostsService, Depends(posts_service)]


# The header itself, not a dependency of its own: each level of dependencies costs FastAPI
# a solving pass per request, a tenth of a by-id read's CPU (benchmarks, issue 17).
MinLsnHeader = Annotated[
    str | None,
    Header(
        alias=MIN_LSN_HEADER,
        pattern=LSN_PATTERN,
        description="read your writes: the X-Stackdeck-Commit-LSN of a write this read "
        "must see. A standby answers once it has replayed that far (a bounded wait), "
        "otherwise the primary does",
        examples=["0/1A2B3C4D"],
    ),
]


def _min_lsn(position: str | None) -> int | None:
    return parse_lsn(position) if position is not None else None


def _reads(request: Request) -> ReadPool:
    reads: ReadPool = request.app.state.reads
    return reads


# Reads hold no session: no teardown, and the read pool decides where each one goes.
async def user_queries(request: Request, position: MinLsnHeader = None) -> UserQueries:
    return UserQueries(_reads(request), _min_lsn(position))


async def post_queries(request: Request, position: MinLsnHeader = None) -> PostQueries:
    return PostQueries(_reads(request), _min_lsn(position))


async def transaction_queries(
    request: Request, position: MinLsnHeader = None
) -> TransactionQueries:
    return TransactionQueries(_reads(request), _min_lsn(position))


UserQueriesDep = Annotated[UserQueries, Depends(user_queries)]
PostQueriesDep = Annotated[PostQueries, Depends(post_queries)]
TransactionQueriesDep = Annotated[TransactionQueries, Depends(transaction_queries)]


async def transaction_streams(request: Request) -> Callable[[int | None], TransactionStream]:
    # async def: FastAPI runs plain def dependencies in a thread pool, a hop per request.
    # A stream holds no connection: it takes one only to replay from the table.
    state = request.app.state
    return lambda last_id: TransactionStream(state.reads, state.events, last_id)


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


def request_traces(request: Request) -> RequestTraces:
    traces: RequestTraces = request.app.state.traces
    return traces


RequestTracesDep = Annotated[RequestTraces, Depends(request_traces)]

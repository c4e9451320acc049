"""The injected things, named once: route signatures then read like a sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from stackdeck.backend.api.idempotency import IdempotencyKeyHeader, idempotent_write
from stackdeck.backend.api.read_your_writes import LSN, LSN_PATTERN, MIN_LSN_HEADER
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


def _reads(request: Request) -> ReadPool:
    reads: ReadPool = request.app.state.reads
    return reads


def _min_lsn(request: Request) -> int | None:
    """The read's X-Stackdeck-Min-LSN, if it sent one: read here, not declared as a Header
    parameter, whose solving by FastAPI was a tenth of a by-id read's CPU (benchmarks,
    issue 17). /openapi.json documents it on every reader (read_your_writes). A malformed
    one is the 422 a declared header would be."""
    position = request.headers.get(MIN_LSN_HEADER)
    if position is None:
        return None
    if LSN.fullmatch(position) is None:
        raise RequestValidationError(
            [
                {
                    "type": "string_pattern_mismatch",
                    "loc": ("header", MIN_LSN_HEADER),
                    "msg": f"String should match pattern '{LSN_PATTERN}'",
                    "input": position,
                }
            ]
        )
    return parse_lsn(position)


# Reads hold no session: no teardown, and the read pool decides where each one goes.
async def user_queries(request: Request) -> UserQueries:
    return UserQueries(_reads(request), _min_lsn(request))


async def post_queries(request: Request) -> PostQueries:
    return PostQueries(_reads(request), _min_lsn(request))


async def transaction_queries(request: Request) -> TransactionQueries:
    return TransactionQueries(_reads(request), _min_lsn(request))


# The readers: each documents X-Stackdeck-Min-LSN in /openapi.json.
READERS = (user_queries, post_queries, transaction_queries)


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

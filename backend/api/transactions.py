"""/transactions: the outcome history, per-second stats and the live SSE stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query
from starlette.responses import StreamingResponse

from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.api.deps import TransactionQueriesDep, TransactionStreamFactoryDep
from stackdeck.backend.api.problems import PROBLEM_RESPONSES
from stackdeck.backend.schemas.common import Page
from stackdeck.backend.schemas.transactions import TransactionRead, TransactionStats
from stackdeck.backend.schemas.types import MAX_BIGINT
from stackdeck.backend.schemas.xray import TransactionDetail
from stackdeck.backend.services.transactions import TransactionStream

RECONNECT_MS = 2000  # how long an EventSource waits before it reconnects
PING_INTERVAL = 15.0  # seconds of silence before a ": ping" comment
SUBSCRIBED = f": subscribed\nretry: {RECONNECT_MS}\n\n".encode()
PING = b": ping\n\n"


class EventStream(StreamingResponse):
    """Server-Sent Events written as they come: each frame is already encoded."""

    media_type = "text/event-stream"


router = APIRouter(
    prefix=f"{API_PREFIX}/transactions", tags=["transactions"], responses=PROBLEM_RESPONSES
)


@router.get("", summary="Write outcomes, newest first (order=desc) or by id (order=asc)")
async def list_transactions(
    transactions: TransactionQueriesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT, description="cursor")] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="`desc`: newest first")] = "desc",
) -> Page[TransactionRead]:
    items, next_cursor = await transactions.page(after, limit, descending=order == "desc")
    return Page[TransactionRead](items=items, next=next_cursor)


@router.get("/stats", summary="Committed and rolled-back outcomes per second")
async def transaction_stats(
    transactions: TransactionQueriesDep,
    window: Annotated[int, Query(ge=1, le=3600, description="seconds")] = 60,
) -> TransactionStats:
    return await transactions.stats(window)


@router.get(
    "/stream",
    response_class=EventStream,
    summary="Live outcomes as Server-Sent Events; resumes after Last-Event-ID",
    description=(
        "Each event's `id` is the log id, `event` the outcome (`committed` or "
        "`rolled_back`) and `data` the JSON record. A client that reconnects with "
        "`Last-Event-ID` first gets every event it missed, then live ones: no gap, no "
        "duplicate, in id order. The first message (`retry: 2000` and a `: subscribed` "
        "comment) is sent once the stream is subscribed: every outcome committed after it "
        "arrives is delivered. A `: ping` comment every 15 s keeps proxies from closing an "
        "idle stream."
    ),
)
async def stream_transactions(
    streams: TransactionStreamFactoryDep,
    last_event_id: Annotated[
        int | None, Header(ge=0, le=MAX_BIGINT, description="resume after this event id")
    ] = None,
) -> EventStream:
    # The frames go straight to the response: each event was encoded once for every
    # subscriber, and no task or memory stream stands between the queue and the socket.
    return EventStream(
        _frames(streams(last_event_id)),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _frames(stream: TransactionStream) -> AsyncIterator[bytes]:
    async for batch in stream.batches(heartbeat=PING_INTERVAL):
        if isinstance(batch, list):
            yield b"".join(event.frame for event in batch)
        elif batch is None:
            yield SUBSCRIBED
        else:
            yield PING


# After /stats and /stream, which this pattern would otherwise take.
@router.get(
    "/{transaction_id}",
    summary="One logged transaction with its X-ray: the statements it ran, the rows it changed",
)
async def transaction_detail(
    transaction_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)],
    transactions: TransactionQueriesDep,
) -> TransactionDetail:
    return await transactions.detail(transaction_id)

"""/transactions: the outcome history, per-second stats and the live SSE stream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from backend.api.deps import TransactionsServiceDep, TransactionStreamFactoryDep
from backend.api.problems import PROBLEM_RESPONSES
from backend.schemas.common import Page
from backend.schemas.transactions import TransactionRead, TransactionStats
from backend.schemas.types import MAX_BIGINT

RECONNECT_MS = 2000  # how long an EventSource waits before it reconnects

router = APIRouter(prefix="/transactions", tags=["transactions"], responses=PROBLEM_RESPONSES)


@router.get("", summary="Write outcomes, newest first (order=desc) or by id (order=asc)")
async def list_transactions(
    transactions: TransactionsServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Annotated[int | None, Query(ge=0, le=MAX_BIGINT, description="cursor")] = None,
    order: Annotated[Literal["asc", "desc"], Query(description="`desc`: newest first")] = "desc",
) -> Page[TransactionRead]:
    rows, next_cursor = await transactions.page(after, limit, descending=order == "desc")
    return Page[TransactionRead](
        items=[TransactionRead.model_validate(r) for r in rows], next=next_cursor
    )


@router.get("/stats", summary="Committed and rolled-back outcomes per second")
async def transaction_stats(
    transactions: TransactionsServiceDep,
    window: Annotated[int, Query(ge=1, le=3600, description="seconds")] = 60,
) -> TransactionStats:
    return await transactions.stats(window)


@router.get(
    "/stream",
    response_class=EventSourceResponse,
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
) -> AsyncIterator[ServerSentEvent]:
    async for event in streams(last_event_id).events():
        if event is None:
            yield ServerSentEvent(comment="subscribed", retry=RECONNECT_MS)
        else:
            yield ServerSentEvent(raw_data=event.json, id=str(event.id), event=event.outcome)

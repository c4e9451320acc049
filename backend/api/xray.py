"""/requests: the X-ray of any recent request, by its X-Request-ID, and its statements' plans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.api.deps import RequestTracesDep
from stackdeck.backend.api.problems import PROBLEM_RESPONSES
from stackdeck.backend.schemas.xray import RequestTraceRead, StatementPlan

router = APIRouter(prefix=f"{API_PREFIX}/requests", tags=["x-ray"], responses=PROBLEM_RESPONSES)

RequestId = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="the X-Request-ID of any response, from any process of this backend",
    ),
]


@router.get("/{request_id}", summary="A recent request's statements and warnings")
async def request_trace(request_id: RequestId, traces: RequestTracesDep) -> RequestTraceRead:
    return RequestTraceRead.model_validate(await traces.find(request_id))


@router.get(
    "/{request_id}/statements/{index}/plan",
    summary="The generic plan of one of a request's statements (EXPLAIN, never ANALYZE)",
)
async def statement_plan(
    request_id: RequestId,
    index: Annotated[int, Path(ge=0, le=100_000, description="its place in `statements`")],
    traces: RequestTracesDep,
) -> StatementPlan:
    plan = await traces.plan(request_id, index)
    trace = await traces.find(request_id)
    return StatementPlan(
        request_id=request_id, index=index, sql=trace["statements"][index]["sql"], plan=plan
    )

"""Idempotency-Key at the HTTP edge: the header in, the replay marker out, refusal elsewhere.

The contract itself (claim, run, store the answer, replay it) is one object in
services/idempotency.py, run by the unit of work; this module only reads the request for it
and tells the client when an answer is a replay.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Request, Response

from stackdeck.backend.errors import FieldError, InvalidInput
from stackdeck.backend.services.idempotency import HEADER, IdempotentWrite

REPLAYED = "Idempotent-Replayed"


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="retry-safe writes: a retry with the same key and request replays "
        f"the first answer ({REPLAYED}: true) and writes nothing; the same key with a "
        "different request is 422. Keys are kept 24 hours.",
    ),
]


async def idempotent_write(
    request: Request, response: Response, key: IdempotencyKeyHeader = None
) -> IdempotentWrite | None:
    """The contract a write runs under, or None without a key. A parameter of the write
    services' own dependency (api/deps), not a dependency of its own: FastAPI solves each
    level of dependencies anew on every request."""
    if key is None:
        return None

    def mark_replayed() -> None:
        # The route answers the replayed result as it did the first time; this says so.
        response.headers[REPLAYED] = "true"

    body = await request.body()
    return IdempotentWrite.of(key, request.method, request.url.path, body, mark_replayed)


async def refuse_idempotency_key(request: Request) -> None:
    """For writes that take no key: a client must not believe its retry is safe."""
    if HEADER in request.headers:
        message = f"this endpoint does not take an {HEADER}"
        raise InvalidInput(message, [FieldError(HEADER, message)])


def document_replays(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation that takes the key documents the replay marker on its success."""
    marker = {
        "description": "`true` when this is the stored answer to an earlier request "
        "with the same Idempotency-Key (nothing was written again)",
        "schema": {"type": "string", "enum": ["true"]},
    }
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            parameters = operation.get("parameters", [])
            if not any(p.get("in") == "header" and p.get("name") == HEADER for p in parameters):
                continue
            for status, answer in operation.get("responses", {}).items():
                if status.startswith("2"):
                    answer.setdefault("headers", {})[REPLAYED] = marker
    return document

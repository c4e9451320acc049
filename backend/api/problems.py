"""The one mapping from errors to RFC 9457 problem+json responses; no traceback ever leaves."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from backend.db.errors import infrastructure_error
from backend.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    MigrationFailed,
    NotFound,
    SchemaNotReady,
    Unavailable,
)
from backend.metrics import current_request_id
from backend.schemas.common import Problem
from backend.services.idempotency import Replayed

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (Unavailable, 503),
    (MigrationFailed, 500),
]


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    if request_id := current_request_id():
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def domain_problem(exc: DomainError) -> JSONResponse:
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 400)
    errors = None
    if isinstance(exc, InvalidInput) and exc.errors:
        errors = [{"field": e.field, "message": e.message} for e in exc.errors]
    headers = None
    if isinstance(exc, Unavailable):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return problem(status, exc.title, exc.detail, errors=errors, headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _explained(request: Request, exc: DomainError) -> DomainError:
    """A schema-not-ready 503 names the current and head revisions (read only on this path)."""
    migrations = getattr(request.app.state, "migrations", None)
    if isinstance(exc, SchemaNotReady) and migrations is not None:
        explained: DomainError = await migrations.explain_not_ready(exc)
        return explained
    return exc


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_problem(await _explained(request, exc))


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Inputs are not echoed back: they may be huge, or hold what the client should not log.
    errors = [
        {"field": _field_name(tuple(e["loc"])), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    return problem(422, "Validation failed", "the request does not match the schema", errors=errors)


async def _on_http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    title = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(
        exc.status_code, "HTTP error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem(exc.status_code, title, detail, headers=dict(exc.headers or {}))


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    translated = infrastructure_error(exc)
    if translated is None:
        return await _on_unexpected(request, exc)
    log.warning("database error answered with %s: %s", translated.title, type(exc).__name__)
    return domain_problem(await _explained(request, translated))


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    return problem(500, "Internal server error", "the error was logged; no details are shown")


async def _on_replay(request: Request, exc: Exception) -> Response:
    """An idempotent retry: the first attempt's response, with the route's success status."""
    assert isinstance(exc, Replayed)
    route = request.scope.get("route")
    status = getattr(route, "status_code", None) or 200
    return Response(
        exc.response,
        status_code=status,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Replayed, _on_replay)
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(SQLAlchemyError, _on_database_error)
    app.add_exception_handler(OSError, _on_database_error)
    # Last resort: a bug still answers problem+json, with the traceback in the server log only.
    app.add_exception_handler(Exception, _on_unexpected)


def problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem}


# Documented on every resource router so the OpenAPI schema says what errors look like.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: problem_response("Not found"),
    409: problem_response("Conflict"),
    413: problem_response("Payload too large"),
    422: problem_response("Validation failed"),
    503: problem_response("Database unavailable or schema not migrated; retry after Retry-After"),
}

"""The one mapping from errors to RFC 9457 problem+json responses; no traceback ever leaves."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from stackdeck.backend.api.idempotency import document_replays
from stackdeck.backend.db.errors import infrastructure_error
from stackdeck.backend.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    MigrationFailed,
    NotFound,
    PoolerMismatch,
    SchemaNotReady,
    Unavailable,
)
from stackdeck.backend.metrics import current_request_id
from stackdeck.backend.schemas.common import Problem

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
    """A schema-not-ready 503 names the current and head revisions (read only on this path);
    a pooler mismatch is remembered for /health."""
    if isinstance(exc, PoolerMismatch) and (pooler := getattr(request.app.state, "pooler", None)):
        pooler.note(exc.detail)
    migrations = getattr(request.app.state, "migrations", None)
    if isinstance(exc, SchemaNotReady) and migrations is not None:
        explained: DomainError = await migrations.explain_not_ready(exc)
        return explained
    return exc


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return domain_problem(await _explained(request, exc))


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # FastAPI parses a body as JSON only when it says it is JSON; any other body reaches the
    # model as raw bytes and fails as a whole. That is the wrong media type, not bad fields.
    content_type = request.headers.get("content-type")
    if not _is_json(content_type) and any(
        tuple(e["loc"]) == ("body",) and e["type"] != "missing" for e in exc.errors()
    ):
        return problem(415, "Unsupported media type", "send the body as application/json")
    # Inputs are not echoed back: they may be huge, or hold what the client should not log.
    errors = [
        {"field": _field_name(tuple(e["loc"])), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    return problem(422, "Validation failed", "the request does not match the schema", errors=errors)


async def _on_http_exception(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    title = {
        400: "Bad request",
        404: "Not found",
        405: "Method not allowed",
        413: "Payload too large",
    }.get(exc.status_code, "HTTP error")
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


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(SQLAlchemyError, _on_database_error)
    # The read pool's asyncpg errors arrive unwrapped.
    app.add_exception_handler(asyncpg.PostgresError, _on_database_error)
    app.add_exception_handler(asyncpg.InterfaceError, _on_database_error)
    app.add_exception_handler(OSError, _on_database_error)
    # Last resort: a bug still answers problem+json, with the traceback in the server log only.
    app.add_exception_handler(Exception, _on_unexpected)


def problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem}


# Documented on every resource router: any parameter or body may fail validation, and any
# route that reaches the database may find it unavailable. 404 and 409 are declared where
# they can happen (NOT_FOUND is added to every operation with an id in its path).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: problem_response("Validation failed"),
    503: problem_response("Database unavailable or schema not migrated; retry after Retry-After"),
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem_response("Conflict: the email is taken (case-insensitively)"),
}

_NOT_FOUND = "Not found: no such id"
_HOST = "Host not allowed, or a body that cannot be read (not UTF-8)"
_TOKEN = "Missing or wrong bearer token (only when the server runs with STACKDECK_API_TOKEN)"
_ORIGIN = "Forbidden: a state-changing request from a foreign Origin"
_TOO_LARGE = "Payload too large: the body is over the limit (1 MiB by default)"
_MEDIA_TYPE = "Unsupported media type: the body must be application/json"
_SAFE_METHODS = frozenset({"get", "head", "options"})
_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _middleware_statuses(
    path: str, method: str, operation: dict[str, Any], open_paths: frozenset[str]
) -> dict[str, str]:
    """Statuses answered before the route runs (backend/api/security.py, middleware.py)."""
    statuses = {"400": _HOST}
    if path not in open_paths:
        statuses["401"] = _TOKEN
    if method not in _SAFE_METHODS:
        statuses["403"] = _ORIGIN
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses["404"] = _NOT_FOUND
    if "requestBody" in operation:
        statuses["413"] = _TOO_LARGE
        statuses["415"] = _MEDIA_TYPE
    return statuses


def document_problems(document: dict[str, Any], open_paths: frozenset[str]) -> dict[str, Any]:
    """Make the OpenAPI document tell the truth about errors, in place.

    Every error leaves as application/problem+json (FastAPI would document application/json),
    and the statuses the middleware answers with are listed on the operations they guard.
    """
    problem_content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status, description in _middleware_statuses(
                path, method, operation, open_paths
            ).items():
                responses.setdefault(status, {"description": description})
            for status, response in responses.items():
                if status[:1] in "45":
                    response["content"] = dict(problem_content)
            if "503" in responses:
                responses["503"]["headers"] = {
                    "Retry-After": {
                        "description": "seconds to wait before retrying",
                        "required": True,
                        "schema": {"type": "integer"},
                    }
                }
            operation["responses"] = dict(sorted(responses.items()))
    schemas = document.get("components", {}).get("schemas", {})
    # FastAPI's own 422 shapes: no response uses them once every 422 is a Problem.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install_problem_openapi(app: FastAPI, open_paths: frozenset[str]) -> None:
    """Post-process FastAPI's generated document once, when it is first asked for.

    `open_paths` are those served without a token (no 401 is documented on them).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_replays(document_problems(generate(), open_paths))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Read-your-writes on a standby: the headers, and where /openapi.json documents them.

A write's response carries the primary's WAL position after its commit (the unit of work
reads it, the request middleware sends it); a read sent with that position as its minimum
is answered by a standby only once the standby has replayed that far (deps.min_lsn).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

COMMIT_LSN_HEADER = "X-Stackdeck-Commit-LSN"
MIN_LSN_HEADER = "X-Stackdeck-Min-LSN"
LSN_PATTERN = r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$"
LSN = re.compile(LSN_PATTERN)

_COMMIT_LSN_DOC = {
    "description": "the primary's WAL position right after this write committed: send it "
    f"as {MIN_LSN_HEADER} on a read that must see this write",
    "schema": {"type": "string", "pattern": LSN_PATTERN, "examples": ["0/1A2B3C4D"]},
}

_MIN_LSN_DOC = {
    "name": MIN_LSN_HEADER,
    "in": "header",
    "required": False,
    "description": "read your writes: the X-Stackdeck-Commit-LSN of a write this read must "
    "see. A standby answers once it has replayed that far (a bounded wait), otherwise the "
    "primary does",
    "schema": {"type": "string", "pattern": LSN_PATTERN, "examples": ["0/1A2B3C4D"]},
}


def _is_unit_of_work(operation: dict[str, Any]) -> bool:
    # Every write made in a unit of work takes an Idempotency-Key; nothing else does.
    return any(
        parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key"
        for parameter in operation.get("parameters", [])
    )


def document_commit_lsn(document: dict[str, Any]) -> dict[str, Any]:
    """The commit LSN header on every success response of every write, in place."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or not _is_unit_of_work(operation):
                continue
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2"):
                    response.setdefault("headers", {})[COMMIT_LSN_HEADER] = _COMMIT_LSN_DOC
    return document


def _depends_on(dependant: Dependant, readers: Collection[Callable[..., Any]]) -> bool:
    return any(d.call in readers or _depends_on(d, readers) for d in dependant.dependencies)


def document_min_lsn(
    app: FastAPI, document: dict[str, Any], readers: Collection[Callable[..., Any]]
) -> dict[str, Any]:
    """The min LSN header on every operation that reads through one of `readers` (the
    dependencies that read it from the request themselves), in place."""
    for route in app.routes:
        if not isinstance(route, APIRoute) or not _depends_on(route.dependant, readers):
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            operation.setdefault("parameters", []).append(_MIN_LSN_DOC)
    return document


def install_read_your_writes_openapi(app: FastAPI, readers: Collection[Callable[..., Any]]) -> None:
    generate = app.openapi
    done = False

    def openapi() -> dict[str, Any]:
        nonlocal done
        document = generate()
        if not done:
            document_commit_lsn(document)
            document_min_lsn(app, document, readers)
            done = True
        return document

    app.openapi = openapi  # type: ignore[method-assign]

"""Request context as pure ASGI middleware: request id, SQL statement count, Server-Timing."""

from __future__ import annotations

import re
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api.problems import problem
from backend.metrics import RequestMetrics, current_metrics

_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        metrics = RequestMetrics(_incoming_request_id(scope) or uuid.uuid4().hex)
        token = current_metrics.set(metrics)

        async def send_with_context(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = metrics.request_id
                headers["Server-Timing"] = metrics.server_timing()
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        finally:
            current_metrics.reset(token)


def _incoming_request_id(scope: Scope) -> str | None:
    """A caller's own X-Request-ID is kept when it is short and harmless in logs."""
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _SAFE_REQUEST_ID.match(value):
            return str(value.decode("ascii"))
    return None


class DeclaredBodyLimitMiddleware:
    """Refuse a body whose declared Content-Length is over the limit before reading it.

    Bodies without a length (chunked) are counted as they arrive by Starlette's
    RequestBodyLimitMiddleware; this answers the declared case as problem+json too.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if (
                    name == b"content-length"
                    and value.isdigit()
                    and int(value) > self.max_body_bytes
                ):
                    response = problem(
                        413, "Payload too large", f"the body is over {self.max_body_bytes} bytes"
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

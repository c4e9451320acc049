"""Request context as pure ASGI middleware: request id, SQL statement count, Server-Timing,
and the commit LSN of the request's write (read-your-writes on a standby)."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.api.problems import problem
from stackdeck.backend.api.read_your_writes import COMMIT_LSN_HEADER
from stackdeck.backend.metrics import RequestMetrics, current_metrics
from stackdeck.backend.services.xray import RequestTrace, RequestTraces

_COMMIT_LSN = COMMIT_LSN_HEADER.lower().encode()
_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
# The X-ray's own lookups and the live stream (open for as long as a client listens).
_UNTRACED = (f"{API_PREFIX}/requests", f"{API_PREFIX}/transactions/stream")


class RequestContextMiddleware:
    """Each request's id and statements; with the X-ray on, its trace once it is answered."""

    def __init__(self, app: ASGIApp, traces: RequestTraces | None = None) -> None:
        self.app = app
        self.traces = traces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        traced = self.traces is not None and not scope["path"].startswith(_UNTRACED)
        metrics = RequestMetrics(
            # 128 random bits in hex, as uuid4().hex is, at a quarter of its cost.
            _incoming_request_id(scope) or os.urandom(16).hex(),
            trace=[] if traced else None,
        )
        token = current_metrics.set(metrics)
        started = time.perf_counter()
        status = 500

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Appended as raw pairs: no route sets these, so none is there to replace
                # (MutableHeaders would look for each first: 4 us a request).
                headers = [
                    *message.get("headers", ()),
                    (b"x-request-id", metrics.request_id.encode()),
                    (b"server-timing", metrics.server_timing().encode()),
                ]
                if metrics.commit_lsn is not None:
                    headers.append((_COMMIT_LSN, metrics.commit_lsn.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        finally:
            current_metrics.reset(token)
            if self.traces is not None and metrics.trace is not None:
                self.traces.add(
                    RequestTrace(
                        metrics.request_id,
                        scope["method"],
                        scope["path"],
                        status,
                        (time.perf_counter() - started) * 1000,
                        tuple(metrics.trace),
                        datetime.now(UTC),
                    )
                )


def _incoming_request_id(scope: Scope) -> str | None:
    """A caller's own X-Request-ID is kept when it is short and harmless in logs."""
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _SAFE_REQUEST_ID.match(value):
            return str(value.decode("ascii"))
    return None


class BodyLimitMiddleware:
    """Refuse a body over the limit; a body of a declared length under it passes straight on.

    A declared Content-Length over the limit is answered (problem+json) before anything is
    read; under it, the server reads no more than the length declared, so nothing needs
    counting. Chunked bodies declare no length: Starlette's RequestBodyLimitMiddleware counts
    them as they arrive (its 413 reaches our problem handler). It wraps receive and send, so
    everything else skips it.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.counted = RequestBodyLimitMiddleware(app, max_body_size=max_body_bytes)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > self.max_body_bytes:
                    response = problem(
                        413, "Payload too large", f"the body is over {self.max_body_bytes} bytes"
                    )
                    await response(scope, receive, send)
                    return
            elif name == b"transfer-encoding":
                chunked = True
        await (self.counted if chunked else self.app)(scope, receive, send)

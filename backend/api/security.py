"""A local server is still a server: Host allow-list, foreign-origin writes, bearer token.

A page in the developer's browser can reach 127.0.0.1 (cross-site requests) or rebind a
name of its own to it (DNS rebinding). Rebinding shows up as a foreign Host header;
cross-site requests carry a foreign Origin. Neither may change state here.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from stackdeck.backend.api.problems import problem

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/api/v1/health"})


def hostname(host_header: str) -> str:
    """The name part of a Host header: "[::1]:8000" -> "::1", "Example:80" -> "example"."""
    try:
        return (urlsplit(f"//{host_header}").hostname or "").lower()
    except ValueError:
        return ""


def origin_hostname(origin: str) -> str:
    """The name an Origin header names ("" for "null" and for anything unparseable)."""
    try:
        return hostname(urlsplit(origin).netloc)
    except ValueError:  # "http://[" and the like: bad input, not a server error
        return ""


def allowed_names(allowed_hosts: list[str], bind_host: str) -> set[str]:
    """The Host names a server bound to `bind_host` answers to."""
    allowed = set(LOOPBACK_NAMES) | {h.lower() for h in allowed_hosts}
    if bind_host not in ("0.0.0.0", "::"):
        allowed.add(bind_host.strip("[]").lower())
    return allowed


class SecurityMiddleware:
    def __init__(
        self, app: ASGIApp, allowed_hosts: list[str], bind_host: str, token: str | None
    ) -> None:
        self.app = app
        self.allowed = allowed_names(allowed_hosts, bind_host)
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope["headers"]}
        host = hostname(headers.get(b"host", b"").decode("latin-1"))
        if host not in self.allowed:
            response = problem(400, "Host not allowed", "this server does not answer to that name")
            await response(scope, receive, send)
            return
        origin = headers.get(b"origin")
        if scope["method"] not in SAFE_METHODS and origin is not None and not self._ours(origin):
            response = problem(403, "Forbidden", "cross-origin writes are refused")
            await response(scope, receive, send)
            return
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token):
                response = problem(
                    401,
                    "Unauthorized",
                    "send Authorization: Bearer <STACKDECK_API_TOKEN>",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _ours(self, origin: bytes) -> bool:
        """An Origin ("null" included) names one of our hosts, or it is foreign."""
        return origin_hostname(origin.decode("latin-1")) in self.allowed

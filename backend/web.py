"""`stackdeck web`: the console in a browser (textual-serve), under the API's rules.

Each page that connects gets a console process of its own (`stackdeck --api-url …`), all
against one backend: the one given with --api-url, or one this command starts (embedded
PostgreSQL unless a database URL is set), so a session costs a console, not a database.

textual-serve drives each console through a WebSocket, so the page is as powerful as the
console. The same rules as the API hold: loopback by default, a Host allow-list (DNS
rebinding), no socket opened from a foreign page (cross-site WebSocket hijacking), and a
token for any other bind (Settings refuses that bind without STACKDECK_API_TOKEN).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from textual_serve.server import Server

from stackdeck.backend import exits
from stackdeck.backend.api.security import allowed_names, hostname, origin_hostname
from stackdeck.backend.settings import Settings

DEFAULT_PORT = 8080
TOKEN_COOKIE = "stackdeck_token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _problem(status: int, title: str, detail: str, **headers: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    response = web.json_response(body, status=status, content_type="application/problem+json")
    response.headers.update(headers)
    return response


class ConsoleServer(Server):
    """textual-serve's server with the Host, Origin and token checks of the API."""

    def __init__(
        self,
        command: str,
        host: str,
        port: int,
        *,
        allowed_hosts: list[str],
        token: str | None,
    ) -> None:
        super().__init__(command, host=host, port=port, title="stackdeck")
        self.allowed = allowed_names(allowed_hosts, host)
        self.token = token.encode() if token else None

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if hostname(request.host) not in self.allowed:
            return _problem(400, "Host not allowed", "this server does not answer to that name")
        origin = request.headers.get("Origin")
        if origin is not None and origin_hostname(origin) not in self.allowed:
            return _problem(403, "Forbidden", "pages of other sites may not open the console")
        if self.token is None:
            return await handler(request)
        given = request.query.get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token):
            # Once in the address bar, then a cookie: the token leaves the URL at once.
            response = web.Response(status=303, headers={"Location": "/"})
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="Strict")
            return response
        bearer = request.headers.get("Authorization", "").encode()
        cookie = request.cookies.get(TOKEN_COOKIE, "").encode()
        if not (
            hmac.compare_digest(bearer, b"Bearer " + self.token)
            or hmac.compare_digest(cookie, self.token)
        ):
            return _problem(
                401,
                "Unauthorized",
                "open /?token=<STACKDECK_API_TOKEN> once, or send Authorization: Bearer …",
                **{"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    def initialize_logging(self) -> None:
        super().initialize_logging()
        # textual-serve logs at INFO from the root logger: keep its own lines and the access
        # log, not every library's INFO (Alembic, the embedded PostgreSQL's commands).
        logging.getLogger().setLevel(logging.WARNING)
        for name in ("textual-serve", "aiohttp.access"):
            logging.getLogger(name).setLevel(logging.INFO)

    async def handle_index(self, request: web.Request) -> Any:
        # The page's links and its WebSocket use the name the browser used (already checked
        # by _guard), not the bind address: 0.0.0.0 is no address a browser can reach.
        self.public_url = f"{request.scheme}://{request.host}"
        return await super().handle_index(request)

    async def on_startup(self, app: web.Application) -> None:
        print(f"stackdeck: the console at http://{self.host}:{self.port}", file=sys.stderr)


def console_command(api_url: str, read_only: bool) -> str:
    """The command each browser session runs: this stackdeck, against `api_url`. A token
    reaches it as STACKDECK_API_TOKEN in the environment, never on a command line."""
    command = [sys.executable, "-m", "stackdeck.backend.cli", "--api-url", api_url]
    if read_only:
        command.append("--read-only")
    return shlex.join(command)


def serve_web(args: argparse.Namespace, settings: Settings) -> int:
    from stackdeck.backend.db.embedded import EmbeddedDatabaseError
    from stackdeck.backend.launcher import BackendThread
    from stackdeck.backend.listening import LauncherError

    token = settings.api_token.get_secret_value() if settings.api_token else None
    port = args.port if args.port is not None else DEFAULT_PORT
    backend: BackendThread | None = None
    api_url = args.api_url
    if api_url is None:
        # The backend stays on loopback, whatever the page is bound to.
        backend = BackendThread(settings.model_copy(update={"host": "127.0.0.1", "port": 0}))
        try:
            api_url = backend.start()
        except (LauncherError, EmbeddedDatabaseError) as exc:
            backend.stop()
            print(f"stackdeck: error: {exc}", file=sys.stderr)
            return 2
    try:
        server = ConsoleServer(
            console_command(api_url, args.read_only),
            settings.host,
            port,
            allowed_hosts=settings.allowed_hosts,
            token=token,
        )
        server.serve()
    finally:
        if backend is not None:
            # textual-serve's loop put the default signal handlers back as it closed: a
            # signal now must not cut the release short.
            with exits.handle_signals():
                backend.stop()
    return 0

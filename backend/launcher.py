"""The backend in a background thread of this process: uvicorn on its own event loop.

The console (`stackdeck` with no arguments) and the console's tests use it, so the UI's loop
never shares a loop with the server's requests. The embedded PostgreSQL is started here (not in
the app's lifespan) so the caller learns its masked URL and a second start is quick.

The socket listens before anything else starts (backend/listening.py), so the URL is known
at once: the caller goes on while PostgreSQL and the app start (`start_soon`). The console
runs it in a child process of its own (backend/backend_process.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import SecretStr

from stackdeck.backend import exits
from stackdeck.backend.api import API_PREFIX
from stackdeck.backend.db.embedded import EmbeddedPostgres
from stackdeck.backend.listening import LauncherError, bind
from stackdeck.backend.settings import Settings, mask_url

# The app and uvicorn are imported by start(), after PostgreSQL is on its way: started from
# a thread, the server's imports then overlap PostgreSQL's start-up and the console's own.
if TYPE_CHECKING:
    from stackdeck.backend.server import GracefulServer

log = logging.getLogger(__name__)


def _on_a_thread(work: Callable[[], str], name: str) -> Future[str]:
    """`work()` on a daemon thread; the future gives its result or whatever it raised."""
    done: Future[str] = Future()

    def run() -> None:
        try:
            done.set_result(work())
        except BaseException as exc:  # the caller learns every failure from the future
            done.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return done


@dataclass
class BackendThread:
    """Start with `start()`, stop with `stop()`; `url` is the API's base URL (…/api/v1)."""

    settings: Settings
    port: int = 0
    log_level: str = "warning"
    # Bound and listening already (by the console, for a backend in a child process).
    sock: socket.socket | None = None
    _embedded: EmbeddedPostgres | None = field(default=None, init=False)
    _server: GracefulServer | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _launching: Future[str] | None = field(default=None, init=False)
    _sock: socket.socket | None = field(default=None, init=False)
    database_url_masked: str = field(default="", init=False)
    # One line for the user when the embedded server was already running (see EmbeddedPostgres).
    notice: str | None = field(default=None, init=False)

    @property
    def root_url(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.root_url + API_PREFIX

    def listen(self) -> str:
        """Bind and listen now: `url` is valid from here on, and early requests wait."""
        if self._sock is None:
            self._sock, self.sock = self.sock or bind(self.settings.host, self.port), None
            self.port = int(self._sock.getsockname()[1])
        return self.url

    def start(self, timeout: float = 60.0) -> str:
        """Start PostgreSQL (when embedded) and uvicorn; return once the server accepts."""
        self.listen()
        sock = self._sock
        assert sock is not None
        settings = self.settings
        embedded: EmbeddedPostgres | None = None
        postgres: Future[str] | None = None
        if settings.database_url_value() is None and self._embedded is None:
            # PostgreSQL starts (its own processes, mostly waited on) while the app imports.
            self._embedded = embedded = EmbeddedPostgres(settings.data_dir)
            postgres = _on_a_thread(embedded.start, "stackdeck-postgres")
        try:
            import uvicorn

            from stackdeck.backend.main import create_app
            from stackdeck.backend.server import GracefulServer
        finally:
            if postgres is not None:
                # Even when the imports failed (or a signal cut them short): the server is
                # ours to release once it has started, and the start must not be cut halfway.
                with exits.uninterrupted():
                    futures.wait([postgres])
        if embedded is not None and postgres is not None:
            url = postgres.result()
            self.notice = embedded.notice
            settings = settings.model_copy(update={"database_url": SecretStr(url)})
            self.settings = settings
        self.database_url_masked = mask_url(settings.database_url_value() or "")

        app = create_app(settings)
        config = uvicorn.Config(
            app,
            log_level=self.log_level,
            access_log=False,
            timeout_graceful_shutdown=3,
            lifespan="on",
        )
        server = GracefulServer(config, app)
        self._server = server

        def run() -> None:
            # A loop of the thread's own; signal handlers belong to the main thread (the UI).
            try:
                asyncio.run(server.serve(sockets=[sock]))
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="stackdeck-backend", daemon=True)
        # uvicorn installs signal handlers only on the main thread, so none are installed here.
        self._thread.start()
        self._wait_ready(server, timeout)
        return self.url

    def start_soon(self, timeout: float = 60.0) -> Future[str]:
        """`start()` on a thread of its own, so the caller carries on (the console draws
        itself meanwhile). `url` is valid at once; the future gives the masked database URL
        once the server accepts, or the error that stopped it."""
        self.listen()

        def launch() -> str:
            self.start(timeout)
            return self.database_url_masked

        self._launching = _on_a_thread(launch, "stackdeck-launcher")
        return self._launching

    def _wait_ready(self, server: GracefulServer, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # The event is set from the server's thread; the short wait only bounds how late a
        # server that died while starting is noticed.
        while not server.ready.wait(0.02):
            if self._thread is None or not self._thread.is_alive():
                raise LauncherError("the backend stopped while starting; see the log above")
            if time.monotonic() > deadline:
                raise LauncherError(f"the backend did not start within {timeout:.0f}s")

    def stop(self, release_database: bool = True) -> None:
        """Stop uvicorn (finishing requests in flight), then release the embedded PostgreSQL.
        A signal meanwhile does not cut this short (it takes effect once it is done)."""
        with exits.uninterrupted():
            self._stop(release_database)

    def _stop(self, release_database: bool) -> None:
        if self._launching is not None:
            # Quitting while the backend starts: let the start finish, then stop what it began.
            futures.wait([self._launching], timeout=60)
            self._launching = None
        if self._server is not None:
            self._server.should_exit = True
            # Live SSE streams never end by themselves; end them so the shutdown is quick.
            self._server.end_streams()
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                # Long-lived streams keep a graceful shutdown waiting; cut them.
                if self._server is not None:
                    self._server.force_exit = True
                self._thread.join(timeout=5)
        self._thread = None
        self._server = None
        if self._sock is not None:
            self._sock.close()  # already closed by the server, unless it never ran
            self._sock = None
        if release_database and self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

    def __enter__(self) -> BackendThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

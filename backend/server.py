"""uvicorn, with a shutdown that ends the live streams instead of waiting them out.

On SIGTERM or SIGINT uvicorn stops accepting connections and waits for open ones; an SSE
stream never ends by itself, so it would hold the shutdown until the graceful timeout.
This server ends every stream at once (clients resume elsewhere with Last-Event-ID) and
lets in-flight requests finish. SIGHUP (the terminal closed) shuts down the same way.

A server process also takes the objects it built at start-up (modules, the app, the
engine: about a million of them) out of the cyclic collector's reach once it is up, so a
full collection under load scans only what requests allocate, and lets the youngest
generation grow past what the requests in flight hold (YOUNG_COLLECTION_THRESHOLD).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

# Tracked objects allocated (net) before the youngest generation is collected; Python's
# default is 700. A request in FastAPI holds many (coroutine frames, dicts, the scope, the
# Request) until it is answered, so with 32 in flight the default collected every few
# requests and promoted the live ones, which then filled the older generations and forced
# full collections: 8 % of the server's CPU under wrk -c32 and most of its p99 over the
# limit's (benchmarks, issue 17). At 10,000 the requests in flight no longer trigger it;
# cyclic garbage is still collected, 10,000 objects later at most.
YOUNG_COLLECTION_THRESHOLD = 10_000


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, freeze_heap: bool = False) -> None:
        super().__init__(config)
        self.app = app
        self.freeze_heap = freeze_heap
        # Set once the lifespan has run and the sockets accept: a thread waiting for the
        # server needs no HTTP round trip (nor a first /health that loads Alembic's scripts).
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.freeze_heap:
            # Measured: full collections of the start-up heap paused every request for up to
            # 200 ms, several times a second under load. Frozen objects are still freed by
            # reference counting; only the collector stops scanning them.
            gc.collect()
            gc.freeze()
            gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])
        if self.started:
            self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn captures SIGINT and SIGTERM; a closed terminal sends SIGHUP, whose default
        # would kill the process mid-request. Like uvicorn's, the handler is only for the
        # main thread, and the signal is raised again once the server has stopped.
        with super().capture_signals():
            if (
                threading.current_thread() is not threading.main_thread()
                or not hasattr(signal, "SIGHUP")
                # Run under nohup: the hang-up is ignored, as asked, and the server goes on.
                or signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            ):
                yield
                return
            previous = signal.signal(signal.SIGHUP, self.handle_exit)
            try:
                yield
            finally:
                signal.signal(signal.SIGHUP, previous)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.end_streams()

    def end_streams(self) -> None:
        loop: asyncio.AbstractEventLoop | None = getattr(self.app.state, "loop", None)
        hub = getattr(self.app.state, "events", None)
        if loop is not None and hub is not None and not loop.is_closed():
            # A signal handler may interrupt the loop anywhere: hand the work to the loop.
            loop.call_soon_threadsafe(hub.close_all)


def server_config(app: Any, host: str, port: int, log_level: str, **options: Any) -> uvicorn.Config:
    """uvicorn's options for `stackdeck serve`, with one worker or several."""
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=10, **options
    )


def serve(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    config = server_config(app, host, port, log_level)
    # One process serving one app: what it built at start-up lives until it exits.
    GracefulServer(config, app, freeze_heap=True).run()

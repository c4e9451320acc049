"""`stackdeck serve --workers N`: one socket served by N processes under uvicorn's supervisor.

The parent binds the socket and owns the embedded PostgreSQL (when there is one); it runs no
app. Each worker is a spawned process that builds its own app from the parent's settings,
pickled through its pipe (nothing is added to a worker's command line or environment, so the
embedded server's URL or a password stays off them): its own pools and its own LISTEN
connection, which is how an event committed on one worker reaches the streams on every
other. Workers serve with GracefulServer, so a shutdown ends their streams and finishes
their requests.

uvicorn's Multiprocess restarts a worker that dies or stops answering its health pings; a
worker that fails while starting stops the whole server instead (it would fail again).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING

from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from stackdeck.backend import exits

# A worker unpickles this module before it can answer the supervisor's health pings, so it
# imports the app (seconds, on a busy machine) only once it answers them.
if TYPE_CHECKING:
    from fastapi import FastAPI

    from stackdeck.backend.settings import Settings

log = logging.getLogger("uvicorn.error")  # beside uvicorn's own supervisor messages

WORKER_HEADER = "X-Stackdeck-Worker"
# Seconds a worker may leave a health ping unanswered before it counts as hung and is
# replaced (uvicorn's default, 5, is short for a worker starting on a loaded machine).
HEALTHCHECK_TIMEOUT = 10
# A worker still running this long after the graceful timeout is killed: a SIGTERM must
# always end the server.
SHUTDOWN_MARGIN = 5.0


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class AppFactory:
    """create_app(settings), called in a worker. The settings travel as bytes, so that
    unpickling this (before the worker answers pings) imports nothing of the app."""

    def __init__(self, settings: Settings) -> None:
        self.pickled_settings = pickle.dumps(settings)

    def __call__(self) -> FastAPI:
        from stackdeck.backend.main import create_app

        settings: Settings = pickle.loads(self.pickled_settings)
        return create_app(settings)


class Worker(Process):
    """One worker process; `target` runs in the child, after the spawn unpickled this object."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:
        # Until the server captures them, and when it raises them again after its graceful
        # shutdown: a normal exit, not death by signal.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _exit_quietly)
        # "Alive, not started yet" from now on, while the app is imported and built.
        threading.Thread(target=self.always_pong, daemon=True).start()
        from stackdeck.backend.server import GracefulServer

        factory = self.config.app
        assert isinstance(factory, AppFactory)
        try:
            app = factory()
        except Exception:
            # A broken app fails the same way in every worker: stop, do not restart.
            log.exception("Worker [%s] could not build the app", os.getpid())
            sys.exit(STARTUP_FAILURE)
        self.config.app, self.config.factory = app, False
        # Which process answered: every response says so (uvicorn adds it, no middleware).
        self.config.headers = [*self.config.headers, (WORKER_HEADER, str(os.getpid()))]
        self._server = GracefulServer(self.config, app, freeze_heap=True)
        self._server.run(sockets)

    def pong(self) -> None:
        self.child_conn.recv()
        self.child_conn.send(self._server is not None and self._server.started)


class Supervisor(Multiprocess):
    """uvicorn's Multiprocess, running Workers; SIGHUP stops it like SIGTERM (a closed
    terminal), instead of uvicorn's rolling restart."""

    failed = False  # a worker could not start

    def spawn(self) -> Worker:
        worker = Worker(self.config, self.sockets)
        worker.start()
        return worker

    def init_processes(self) -> None:
        self.processes = [self.spawn() for _ in range(self.processes_num)]

    def keep_subprocess_alive(self) -> None:
        for index, process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # dead, or alive but not answering: hung
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("Worker [%s] failed to start; stopping.", process.pid)
                self.failed = True
                self.should_exit.set()
                return
            log.warning(
                "Worker [%s] died (exit code %s); starting another.", process.pid, process.exitcode
            )
            self.processes[index] = self.spawn()

    def join_all(self) -> None:
        graceful = self.config.timeout_graceful_shutdown or 0
        deadline = time.monotonic() + graceful + SHUTDOWN_MARGIN
        for process in self.processes:
            process.process.join(max(0.0, deadline - time.monotonic()))
            if process.process.is_alive():
                log.error("Worker [%s] did not stop in time; killing it.", process.pid)
                process.kill()
                process.process.join()

    def handle_hup(self) -> None:
        exits.detach_from_terminal()  # it is gone: a write to it would fail
        log.info("Received SIGHUP, exiting.")
        self.should_exit.set()

    def handle_ttin(self) -> None:
        log.info("Received SIGTTIN, adding a worker.")
        self.processes_num += 1
        self.processes.append(self.spawn())


def run(settings: Settings, log_level: str) -> bool:
    """Serve `settings` (whose database URL is set) from `settings.workers` processes until
    a signal stops them; False when a worker could not start."""
    from stackdeck.backend.server import server_config

    config = server_config(
        AppFactory(settings),
        settings.host,
        settings.port,
        log_level,
        factory=True,
        workers=settings.workers,
        timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT,
    )
    sock = config.bind_socket()
    try:
        supervisor = Supervisor(config, sockets=[sock])
        supervisor.run()
    finally:
        sock.close()
    return not supervisor.failed

"""The console's embedded backend, in a child process: PostgreSQL and the API start on the
other core while the console imports and paints itself, and the child never outlives it.

The console binds the socket (backend/listening.py: the URL is known at once, and early
requests wait in the backlog) and hands it to the child with one end of a socket pair. Over
the pair go the console's overrides (never the command line, which others can read: a
database URL holds a password); the child builds its Settings from them, the environment and
.env, as `stackdeck serve` would. Back comes one line: ready, or why not. The pair is also the
child's lifeline: when the console goes, by quitting, crashing or SIGKILL, the child reads
end-of-file and stops as on SIGTERM, gracefully, releasing PostgreSQL. Its stderr goes to a
file, whose last line explains a child that died without a word.

This module imports only the standard library (and the API's prefix) at the top: the console
imports it first.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Future
from typing import IO, Any

from stackdeck.backend.api import API_PREFIX  # the package's one constant, not the API
from stackdeck.backend.listening import LauncherError, bind

# The child's graceful stop is bounded by its own watchdog (backend/exits.py GRACE, 15 s).
STOP_WITHIN = 25.0


class BackendProcess:
    """`listen()` gives the API's URL at once, `start_soon()` starts the child, and its
    future gives the masked database URL once the API accepts (or a LauncherError saying
    why not, in one line); `stop()` ends the child and waits until PostgreSQL is released."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides  # Settings' fields: host, port 0, data_dir…
        self.host = str(overrides.get("host", "127.0.0.1"))
        self.notice: str | None = None  # when the embedded server was already running
        self._sock: socket.socket | None = None
        self._lifeline: socket.socket | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._stopping = False
        self.url = ""

    def listen(self) -> str:
        if self._sock is None:
            self._sock = bind(self.host, 0)
            self.url = f"http://{self.host}:{self._sock.getsockname()[1]}{API_PREFIX}"
        return self.url

    def start_soon(self) -> Future[str]:
        sock = self._sock
        if sock is None:
            self.listen()
            sock = self._sock
        assert sock is not None
        ours, theirs = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (the child's, closed by stop())
        # -P: nothing from the current directory shadows the installed package.
        command = [sys.executable, "-P", "-m", __name__, str(sock.fileno()), str(theirs.fileno())]
        try:
            self._child = subprocess.Popen(
                command,
                pass_fds=(sock.fileno(), theirs.fileno()),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
        except OSError as exc:
            ours.close()
            raise LauncherError(f"cannot start the backend: {exc.strerror or exc}") from None
        finally:
            theirs.close()
            sock.close()  # the child's now: the console only sends it requests
            self._sock = None
        self._lifeline = ours
        ours.sendall(json.dumps(self.overrides).encode() + b"\n")
        started: Future[str] = Future()
        threading.Thread(
            target=self._await_ready, args=(started,), name="stackdeck-backend-ready", daemon=True
        ).start()
        return started

    def _await_ready(self, started: Future[str]) -> None:
        assert self._lifeline is not None
        with self._lifeline.makefile("rb") as lines:
            line = lines.readline()
        try:
            said = json.loads(line) if line else {}
        except ValueError:
            said = {}
        if "database" in said:
            self.notice = said.get("notice")
            started.set_result(str(said["database"]))
            return
        if self._stopping:
            started.set_result("")  # quit while it started: stopped, as asked, nothing wrong
            return
        error = said.get("error") or f"the backend stopped while starting: {self._last_words()}"
        started.set_exception(LauncherError(error))

    def _last_words(self) -> str:
        if self._child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._child.wait(timeout=5)  # its stderr is complete once it has exited
        if self._stderr is None:
            return "no reason given"
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().decode(errors="replace").splitlines()]
        return next((line for line in reversed(lines) if line), "no reason given")

    def stop(self) -> None:
        """End-of-file on the lifeline, the child stops gracefully; wait until it has."""
        from stackdeck.backend import exits

        with exits.uninterrupted():
            self._stopping = True
            if self._lifeline is not None:
                # Shut down, not closed: the thread awaiting the ready line may read it still.
                self._lifeline.shutdown(socket.SHUT_WR)
            if self._child is not None:
                try:
                    self._child.wait(timeout=STOP_WITHIN)
                except subprocess.TimeoutExpired:
                    self._child.kill()  # its watchdog failed; nothing else can be done
                    self._child.wait()
            if self._lifeline is not None:
                self._lifeline.close()
                self._lifeline = None
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None


def _say(lifeline: socket.socket, **what: str | None) -> None:
    lifeline.sendall(json.dumps(what).encode() + b"\n")


def _stop_when_orphaned(lifeline: socket.socket) -> None:
    """The console is gone (or done) once its end of the pair reads end-of-file: stop as on
    SIGTERM, so the graceful stop and its watchdog run as for every other way out."""
    while True:
        try:
            if not lifeline.recv(4096):
                break
        except OSError:
            break
    os.kill(os.getpid(), signal.SIGTERM)


def _child(listening: socket.socket, lifeline: socket.socket) -> int:
    # Off while the app is imported and built: the collector would scan the growing heap of
    # objects that all live until exit, over and over (a seventh of the start, measured).
    gc.disable()
    from stackdeck.backend import exits

    with lifeline.makefile("rb") as lines:
        handed = lines.readline()
    if not handed:
        return 0  # the console went before it said anything
    threading.Thread(
        target=_stop_when_orphaned, args=(lifeline,), name="stackdeck-lifeline", daemon=True
    ).start()
    with exits.handle_signals():
        try:
            return _serve(listening, lifeline, json.loads(handed))
        except exits.Signalled as exc:
            return int(exc.code or 0)


def _serve(listening: socket.socket, lifeline: socket.socket, overrides: dict[str, Any]) -> int:
    from pydantic import ValidationError

    from stackdeck.backend.cli import settings_error
    from stackdeck.backend.db.embedded import EmbeddedDatabaseError
    from stackdeck.backend.launcher import BackendThread
    from stackdeck.backend.settings import Settings

    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        _say(lifeline, error=settings_error(exc))
        return 2
    backend = BackendThread(settings, sock=listening)
    try:
        try:
            backend.start()
        except (LauncherError, EmbeddedDatabaseError) as exc:
            _say(lifeline, error=str(exc))
            return 2
        _say(lifeline, database=backend.database_url_masked, notice=backend.notice)
        # What start-up built stays out of every later collection (as the console's does).
        gc.freeze()
        gc.enable()
        while True:
            signal.pause()  # until a signal, or the lifeline's end-of-file, stops it
    finally:
        backend.stop()


if __name__ == "__main__":
    sys.exit(_child(socket.socket(fileno=int(sys.argv[1])), socket.socket(fileno=int(sys.argv[2]))))

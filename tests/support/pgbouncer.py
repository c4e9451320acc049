"""A real PgBouncer (Debian's package) in front of the tests' PostgreSQL, on a loopback port.

It runs as the user that owns the server's socket directory: the embedded PostgreSQL runs
as its own system user and keeps its socket in its data dir, which only that user may enter.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url

from tests.helpers import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@dataclass
class PgBouncer:
    port: int
    mode: str
    workdir: Path

    def url_for(self, server_url: str) -> str:
        """The URL of `server_url`'s database (same user) reached through this PgBouncer."""
        server = make_url(server_url)
        return (
            server.set(host="127.0.0.1", port=self.port, query={})
            .set(drivername="postgresql+asyncpg")
            .render_as_string(hide_password=False)
        )

    def log(self) -> str:
        path = self.workdir / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _server_address(server_url: str) -> tuple[str, int]:
    url = make_url(server_url)
    host = url.query.get("host") or url.host or "127.0.0.1"
    return (host if isinstance(host, str) else host[0]), int(url.port or 5432)


@contextmanager
def pgbouncer(
    server_url: str, mode: Literal["transaction", "session"] = "transaction"
) -> Iterator[PgBouncer]:
    host, port = _server_address(server_url)
    owner = os.stat(host).st_uid if host.startswith("/") else os.getuid()
    if owner == 0:
        owner = pwd.getpwnam("nobody").pw_uid  # PgBouncer refuses to run as root
    workdir = Path(tempfile.mkdtemp(prefix="stackdeck-pgbouncer-"))
    listen = free_port()
    users = {make_url(server_url).username or "postgres", "canary"}
    (workdir / "userlist.txt").write_text("".join(f'"{u}" ""\n' for u in sorted(users)))
    # Stock settings but the few a test needs: trust on loopback, every database passed on.
    (workdir / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {workdir}/userlist.txt
pool_mode = {mode}
max_client_conn = 400
default_pool_size = 20
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
"""
    )
    os.chown(workdir, owner, -1)
    for child in workdir.iterdir():
        os.chown(child, owner, -1)
    command = [PGBOUNCER, str(workdir / "pgbouncer.ini")]
    if os.getuid() == 0:
        group = pwd.getpwuid(owner).pw_gid
        command = ["setpriv", f"--reuid={owner}", f"--regid={group}", "--clear-groups", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    bouncer = PgBouncer(listen, mode, workdir)
    try:
        _wait_listening(listen, process, bouncer)
        yield bouncer
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_listening(port: int, process: subprocess.Popen[bytes], bouncer: PgBouncer) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"pgbouncer exited: {stderr}{bouncer.log()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen within 15 s: {bouncer.log()}")

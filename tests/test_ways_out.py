"""Every way out releases the embedded PostgreSQL: real commands, in a real terminal (tmux).

Each case copies a migrated data dir (`stackdeck_data_dir`) and ends by stopping any
PostgreSQL left for it, so a failing case leaves no server behind.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from stackdeck.backend.cli import CRASH_AFTER_DATABASE
from stackdeck.backend.db.embedded import EmbeddedPostgres
from tests.helpers import free_port
from tests.processes import wait_healthy
from tests.support.embedded import assert_released, postmasters, recorded_users
from tests.tmux import Tmux, clean_env, tmux_session

STACKDECK = Path(sys.executable).parent / "stackdeck"
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
# Real processes in real terminals, a minute and more in all: outside the default suite,
# run by .ci/run after it (and by `just test-all`).
pytestmark = pytest.mark.slow
EMAIL = re.compile(r"\w@\w+\.\w")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    with tmux_session() as server:
        yield server


def console_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return clean_env(STACKDECK_DATA_DIR=str(data_dir), **extra)


def open_console(
    tmux: Tmux, data_dir: Path, session: str, shell_first: str = "", **env: str
) -> str:
    """Start `stackdeck` in its own tmux session; return the screen once users are listed."""
    command = f"{shell_first}{STACKDECK}"
    tmux.start(command, data_dir.parent, console_env(data_dir, **env), session)
    return tmux.wait_for(
        lambda s: "Migrations" in s and EMAIL.search(s) is not None, session=session
    )


def quit_by(tmux: Tmux, session: str, way: str) -> None:
    if way in ("SIGHUP", "terminal gone"):  # the terminal closes
        tmux("kill-session", "-t", session)
    elif way == "SIGTERM":
        tmux.process("stackdeck", session).terminate()
        tmux.wait_for(lambda s: "exit=143" in s, within=30, session=session)
    else:
        tmux.send("C-c" if way == "ctrl+c" else "q", session=session)
        tmux.wait_for(lambda s: "exit=0" in s, within=30, session=session)


@needs_tmux
# `q` is the smoke test's way out (tests/tui/test_tmux_smoke.py).
# "terminal gone": the shell ignores SIGHUP, so the console is never signalled; its
# terminal simply ends.
@pytest.mark.parametrize(
    "way",
    ["SIGHUP", "SIGTERM", "terminal gone", pytest.param("ctrl+c", marks=pytest.mark.slow)],
)
def test_console_releases_postgres_on_every_way_out(
    tmux: Tmux, stackdeck_data_dir: Path, way: str
) -> None:
    shell_first = "trap '' HUP; " if way == "terminal gone" else ""
    open_console(tmux, stackdeck_data_dir, "one", shell_first)
    pgdata = stackdeck_data_dir / "pgdata"
    assert len(postmasters(pgdata)) == 1
    quit_by(tmux, "one", way)
    assert_released(pgdata)


@needs_tmux
def test_console_that_crashes_after_postgres_is_up_releases_it(
    tmux: Tmux, stackdeck_data_dir: Path
) -> None:
    env = console_env(stackdeck_data_dir, **{CRASH_AFTER_DATABASE: "1"})
    tmux.start(str(STACKDECK), stackdeck_data_dir.parent, env, "one")
    screen = tmux.wait_for(lambda s: "exit=1" in s, session="one")
    assert CRASH_AFTER_DATABASE in screen  # it did crash, where it was told to
    assert_released(stackdeck_data_dir / "pgdata")


def backend_of(console: Any) -> Any:
    """The console's backend: its child process (backend/backend_process.py)."""
    [child] = [p for p in console.children() if "backend_process" in " ".join(p.cmdline())]
    return child


def console_and_backend(tmux: Tmux, data_dir: Path, session: str) -> tuple[Any, Any]:
    """A console opened on `data_dir` (users listed), and its backend's child process."""
    open_console(tmux, data_dir, session)
    console = tmux.process("stackdeck", session)
    return console, backend_of(console)


@needs_tmux
def test_console_killed_by_sigkill_still_releases_postgres(
    tmux: Tmux, stackdeck_data_dir: Path
) -> None:
    pgdata = stackdeck_data_dir / "pgdata"
    killed, backend = console_and_backend(tmux, stackdeck_data_dir, "one")
    killed.kill()  # nothing of the console runs: its backend learns it from the lifeline
    killed.wait(10)
    backend.wait(30)
    assert_released(pgdata)


@needs_tmux
def test_console_after_a_sigkill_takes_the_server_over_and_stops_it(
    tmux: Tmux, stackdeck_data_dir: Path
) -> None:
    pgdata = stackdeck_data_dir / "pgdata"
    killed, backend = console_and_backend(tmux, stackdeck_data_dir, "one")
    # Both at once (the OOM killer, a kill -9 of the group): nothing could release it.
    backend.kill()
    killed.kill()
    backend.wait(10)
    killed.wait(10)
    [left_behind] = postmasters(pgdata)  # nothing could run: the server is still up

    screen = open_console(tmux, stackdeck_data_dir, "two")
    screen = tmux.wait_for(lambda s: "taking it over" in " ".join(s.split()), session="two")
    assert f"pid {backend.pid}" in screen
    assert postmasters(pgdata) == [left_behind]  # shared, never a second server
    quit_by(tmux, "two", "q")
    assert_released(pgdata)


@needs_tmux
def test_second_console_keeps_working_when_the_first_terminal_closes(
    tmux: Tmux, stackdeck_data_dir: Path
) -> None:
    pgdata = stackdeck_data_dir / "pgdata"
    open_console(tmux, stackdeck_data_dir, "one")
    first = tmux.process("stackdeck", "one")
    screen = open_console(tmux, stackdeck_data_dir, "two")
    screen = tmux.wait_for(lambda s: "sharing" in s, session="two")  # told, once, and by whom
    assert f"pid {backend_of(first).pid}" in screen

    tmux("kill-session", "-t", "one")
    first.wait(15)
    assert len(postmasters(pgdata)) == 1  # the second console still uses it
    port = re.search(r"http://127\.0\.0\.1:(\d+)/api/v1", screen)
    assert port is not None, screen
    created = httpx.post(
        f"http://127.0.0.1:{port[1]}/api/v1/users",
        json={"name": "Late Comer", "email": "late@example.com"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tmux.send("r", session="two")
    tmux.wait_for(lambda s: "late@example.com" in s, session="two")

    quit_by(tmux, "two", "q")
    assert_released(pgdata)


def stackdeck(*args: str, data_dir: Path, stdout: Any, stderr: Any) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "stackdeck.backend.cli", *args]
    env = console_env(data_dir)
    return subprocess.Popen(command, env=env, text=True, stdout=stdout, stderr=stderr)


# SIGHUP reaches uvicorn as SIGTERM (one process), or stops the workers' supervisor: those
# cases take every path.
@pytest.mark.parametrize(
    ("signum", "workers"),
    [
        pytest.param(signal.SIGTERM, "1", marks=pytest.mark.slow),
        (signal.SIGHUP, "1"),
        pytest.param(signal.SIGTERM, "2", marks=pytest.mark.slow),
        (signal.SIGHUP, "2"),
    ],
    ids=["SIGTERM", "SIGHUP", "SIGTERM-2-workers", "SIGHUP-2-workers"],
)
def test_serve_releases_postgres_when_signalled(
    stackdeck_data_dir: Path, tmp_path: Path, signum: signal.Signals, workers: str
) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        served = stackdeck(
            "serve",
            "--port",
            str(port),
            "--workers",
            workers,
            data_dir=stackdeck_data_dir,
            stdout=log,
            stderr=log,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", served, timeout=120)
        served.send_signal(signum)
        assert served.wait(60) == 0, log_path.read_text()
    finally:
        if served.poll() is None:
            served.kill()
            served.wait(10)
    assert_released(stackdeck_data_dir / "pgdata")


# textual-serve handles SIGTERM on its own loop; SIGHUP reaches it as SIGTERM.
@pytest.mark.parametrize(
    "signum",
    [pytest.param(signal.SIGTERM, marks=pytest.mark.slow), signal.SIGHUP],
    ids=["SIGTERM", "SIGHUP"],
)
def test_web_releases_postgres_when_signalled(
    stackdeck_data_dir: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    port = free_port()
    log_path = tmp_path / "web.log"
    with log_path.open("w") as log:
        web = stackdeck(
            "web", "--port", str(port), data_dir=stackdeck_data_dir, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while "the console at" not in log_path.read_text():
            assert web.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        assert len(postmasters(stackdeck_data_dir / "pgdata")) == 1
        web.send_signal(signum)
        assert web.wait(30) == 0, log_path.read_text()
    finally:
        if web.poll() is None:
            web.kill()
            web.wait(10)
    assert_released(stackdeck_data_dir / "pgdata")


def test_serve_under_nohup_outlives_its_terminal_and_still_releases_on_sigterm(
    stackdeck_data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    with (tmp_path / "serve.log").open("w") as log:
        served = subprocess.Popen(
            ["nohup", sys.executable, "-m", "stackdeck.backend.cli", "serve", "--port", str(port)],
            env=console_env(stackdeck_data_dir),
            stdout=log,
            stderr=log,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, served)
        served.send_signal(signal.SIGHUP)  # ignored, as nohup asked
        assert httpx.get(f"{url}/api/v1/health", timeout=30).status_code == 200
        assert served.poll() is None
        served.send_signal(signal.SIGTERM)
        assert served.wait(30) == 0, (tmp_path / "serve.log").read_text()
    finally:
        if served.poll() is None:
            served.kill()
            served.wait(10)
    assert_released(stackdeck_data_dir / "pgdata")


def test_seed_stopped_by_sigterm_releases_postgres_and_writes_nothing(
    stackdeck_data_dir: Path,
) -> None:
    pgdata = stackdeck_data_dir / "pgdata"
    seeding = stackdeck(
        "seed",
        "--users",
        "300000",
        data_dir=stackdeck_data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Signalled once it uses the server (from then on it has something to release).
        deadline = time.monotonic() + 60
        while seeding.pid not in json.loads(recorded_users(pgdata) or "[]"):
            assert seeding.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        seeding.send_signal(signal.SIGTERM)
        out, err = seeding.communicate(timeout=60)
    finally:
        if seeding.poll() is None:
            seeding.kill()
            seeding.communicate(timeout=10)
    assert seeding.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert "seeded" not in out
    assert_released(pgdata)

    # It opens again, and the seed's one transaction was rolled back whole.
    embedded = EmbeddedPostgres(stackdeck_data_dir)
    url = embedded.start().replace("+asyncpg", "")
    try:
        assert asyncio.run(_count_users(url)) == 3
    finally:
        embedded.stop()
    assert_released(pgdata)


async def _count_users(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM users"))
    finally:
        await conn.close()


@pytest.mark.slow
def test_migrate_that_fails_releases_postgres(stackdeck_data_dir: Path) -> None:
    failing = stackdeck(
        "migrate",
        "upgrade",
        "no-such-revision",
        data_dir=stackdeck_data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, err = failing.communicate(timeout=120)
    assert failing.returncode == 2, err
    assert_released(stackdeck_data_dir / "pgdata")


def test_migrate_beside_serve_names_the_server_it_shares_and_leaves_it_running(
    stackdeck_data_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    with (tmp_path / "serve.log").open("w") as log:
        served = stackdeck(
            "serve", "--port", str(port), data_dir=stackdeck_data_dir, stdout=log, stderr=log
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}", served)
        status = stackdeck(
            "migrate",
            "status",
            data_dir=stackdeck_data_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = status.communicate(timeout=120)
        assert status.returncode == 0, err
        assert "at head" in out
        assert err.count("stackdeck: sharing the embedded PostgreSQL") == 1, err
        assert f"pid {served.pid} (stackdeck.backend.cli serve" in err
        # Its exit left the server to `serve`, which still answers from it.
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/users", timeout=30).status_code == 200
        served.send_signal(signal.SIGTERM)
        assert served.wait(30) == 0
    finally:
        if served.poll() is None:
            served.kill()
            served.wait(10)
    assert_released(stackdeck_data_dir / "pgdata")

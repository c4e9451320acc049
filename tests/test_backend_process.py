"""The console's backend in a child process (backend/backend_process.py): real children,
real PostgreSQL, real sockets; it answers, says why when it cannot start, and never outlives
the process that started it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from stackdeck.backend.backend_process import BackendProcess
from stackdeck.backend.listening import LauncherError


def overrides(database_url: str, **more: str) -> dict[str, str | int]:
    """As the console gives them, and the database a test's own."""
    return {"host": "127.0.0.1", "port": 0, "database_url": database_url, **more}


@pytest.fixture
def started(database_url: str) -> Iterator[BackendProcess]:
    backend = BackendProcess(overrides(database_url))
    try:
        yield backend
    finally:
        backend.stop()


def children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if "backend_process" in " ".join(p.cmdline())]


def refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_the_url_is_known_at_once_and_answers_once_started(started: BackendProcess) -> None:
    url = started.listen()
    starting = started.start_soon()
    # Sent before the child is ready: it waits in the backlog, never refused.
    health = httpx.get(f"{url}/health", timeout=60)
    assert health.status_code == 200, health.text
    masked = starting.result(timeout=60)
    assert "***" in masked or "@" not in masked  # a password, if any, is masked
    assert started.notice is None  # an external database: nothing shared


def test_stop_ends_the_child_and_closes_the_port(database_url: str) -> None:
    backend = BackendProcess(overrides(database_url))
    url = backend.listen()
    backend.start_soon().result(timeout=60)
    [child] = children()
    backend.stop()
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert refused(f"{url}/health")


def test_a_stop_while_it_starts_is_no_error(database_url: str) -> None:
    backend = BackendProcess(overrides(database_url))
    url = backend.listen()
    starting = backend.start_soon()
    [child] = children()
    backend.stop()  # the user quit at once: stopped, as asked
    assert starting.result(timeout=30) == ""
    assert not child.is_running()
    assert refused(f"{url}/health")


def test_the_password_never_reaches_the_childs_command_line(started: BackendProcess) -> None:
    started.start_soon().result(timeout=60)
    [child] = children()
    secret = str(started.overrides["database_url"])
    assert "postgresql" in secret
    assert all(secret not in word for word in child.cmdline())
    assert all(secret not in value for value in child.environ().values())


def test_a_backend_that_cannot_start_says_why_in_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    # The embedded server, in a file.
    backend = BackendProcess({"host": "127.0.0.1", "port": 0, "data_dir": str(blocked)})
    try:
        with pytest.raises(LauncherError) as raised:
            backend.start_soon().result(timeout=60)
    finally:
        backend.stop()
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    assert str(blocked) in message, message


def test_settings_the_child_refuses_come_back_as_one_line(database_url: str) -> None:
    backend = BackendProcess(overrides(database_url, workers="many"))
    try:
        with pytest.raises(LauncherError, match=r"^workers: ") as raised:
            backend.start_soon().result(timeout=60)
    finally:
        backend.stop()
    assert "\n" not in str(raised.value)


PARENT = textwrap.dedent(
    """
    import json, sys, time
    from stackdeck.backend.backend_process import BackendProcess
    backend = BackendProcess(json.loads(sys.argv[1]))
    url = backend.listen()
    backend.start_soon().result(timeout=60)
    print(url, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_the_child_never_outlives_its_parent(database_url: str, signum: int) -> None:
    values = json.dumps(overrides(database_url))
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, values], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        url = parent.stdout.readline().strip()
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
        [child] = psutil.Process(parent.pid).children()
        parent.send_signal(signum)  # SIGKILL: nothing of the parent runs, the lifeline ends
        parent.wait(timeout=30)
        child.wait(timeout=30)  # psutil.TimeoutExpired if it stayed
        deadline = time.monotonic() + 10
        while not refused(f"{url}/health"):
            assert time.monotonic() < deadline, "the port still answers"
            time.sleep(0.1)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)

"""Installed like a user installs it: the wheel (not editable) in a fresh venv, run from a
directory outside the checkout, on the embedded default."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port
from tests.processes import REPO_ROOT
from tests.support.embedded import embedded_data_dir, wait_until_stopped
from tests.tmux import clean_env, tmux_session

# Building the wheel and installing it with its dependencies takes a while (the first test
# pays for it): CI runs these on every run (.ci/run), the default suite does not.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel built from this checkout (and its dependencies)."""
    root = tmp_path_factory.mktemp("install")
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", dist, REPO_ROOT], check=True)
    [wheel] = dist.glob("stackdeck-*.whl")
    subprocess.run([sys.executable, "-m", "venv", root / "venv"], check=True)
    subprocess.run([root / "venv/bin/pip", "install", "-q", wheel], check=True, timeout=600)
    return root / "venv"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory that is not the checkout (nothing to import or read there)."""
    path = tmp_path / "elsewhere"
    path.mkdir()
    return path


@pytest.fixture
def embedded_dir() -> Iterator[Path]:
    # No PostgreSQL for it outlives the test, whether the test passed or not.
    with embedded_data_dir() as path:
        yield path


def test_the_wheel_installs_one_import_name(venv: Path, elsewhere: Path) -> None:
    python = str(venv / "bin/python")
    where = subprocess.run(
        [python, "-c", "import stackdeck.tui.app, stackdeck.migrations; print(stackdeck.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in where and str(REPO_ROOT) not in where
    for generic in ("backend", "tui", "migrations"):
        found = subprocess.run([python, "-c", f"import {generic}"], cwd=elsewhere)
        assert found.returncode != 0, f"the wheel installed a top-level {generic!r}"


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_installed_console_migrates_creates_a_burst_typed_user_and_quits(
    venv: Path, elsewhere: Path, embedded_dir: Path
) -> None:
    with tmux_session() as tmux:
        env = clean_env(STACKDECK_DATA_DIR=str(embedded_dir))
        tmux.start(str(venv / "bin/stackdeck"), elsewhere, env)
        panes = ("Users", "Posts", "Transactions", "Migrations")
        tmux.wait_for(lambda s: all(p in s for p in panes) and "schema not migrated" in s, 120)
        tmux.send("m")
        tmux.wait_for(lambda s: "upgrade" in s.lower() and "head" in s)
        tmux.send("y")
        tmux.wait_for(lambda s: "upgrade done" in s, 60)
        tmux.send("Enter")
        tmux.wait_for(lambda s: "upgrade done" not in s and "0 users" in s and "at head" in s)
        # One send-keys, no pause: each key must still land where it is aimed.
        tmux.send("n", "Burst Name", "Tab", "burst@example.com", "Enter")
        screen = tmux.wait_for(lambda s: "burst@example.com" in s and "1 users" in s)
        assert "Burst Name" in screen
        tmux.send("q")
        tmux.wait_for(lambda s: "exit=0" in s, within=30)
        wait_until_stopped(embedded_dir / "pgdata")


def test_the_installed_commands_run_outside_the_checkout(
    venv: Path, elsewhere: Path, embedded_dir: Path
) -> None:
    stackdeck = str(venv / "bin/stackdeck")
    env = clean_env(STACKDECK_DATA_DIR=str(embedded_dir))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [stackdeck, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
        )

    migrated = run("migrate", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    status = run("migrate", "status")
    assert status.returncode == 0 and "head" in status.stdout, status.stdout + status.stderr
    seeded = run("seed", "--users", "3", "--posts-per-user", "1")
    assert seeded.returncode == 0, seeded.stderr
    port = free_port()
    server = subprocess.Popen(
        [stackdeck, "serve", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
                if health.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve never answered /health"
            time.sleep(0.2)
        users = httpx.get(f"http://127.0.0.1:{port}/api/v1/users", timeout=10).json()
        assert len(users["items"]) == 3
        server.send_signal(signal.SIGINT)
        _, errors = server.communicate(timeout=30)
        assert server.returncode == 0, errors
        assert "Traceback" not in errors
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)

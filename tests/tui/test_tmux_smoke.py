"""A real terminal: tmux runs `stackdeck` (embedded PostgreSQL in a temporary data dir)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

STACKDECK = Path(sys.executable).parent / "stackdeck"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "smoke")

    def wait_for(self, check: Callable[[str], bool], within: float = 60.0) -> str:
        deadline = time.monotonic() + within
        while True:
            text = self.screen()
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"screen not as expected within {within}s:\n{text}")
            time.sleep(0.2)

    def alive(self) -> bool:
        return "smoke" in self("list-sessions", "-F", "#{session_name}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(f"stackdeck-test-{uuid.uuid4().hex[:8]}")
    yield session
    session("kill-server")


def test_stackdeck_in_tmux_shows_the_panes_and_quits_cleanly(tmux: Tmux, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKDECK_")}
    env.update({"STACKDECK_DATA_DIR": str(data_dir), "TERM": "xterm-256color"})
    # The shell records the exit status, then lingers so the final screen can be read.
    command = f"{STACKDECK}; echo exit=$?; sleep 30"
    subprocess.run(
        [
            "tmux",
            "-L",
            tmux.socket,
            "new-session",
            "-d",
            "-s",
            "smoke",
            "-x",
            "160",
            "-y",
            "45",
            "-c",
            str(tmp_path),
            command,
        ],
        check=True,
        env=env,
        timeout=10,
    )
    panes = ("Users", "Posts", "Transactions", "Migrations")
    # Waited for whole: a capture can land between two partial redraws of the screen.
    screen = tmux.wait_for(lambda s: all(p in s for p in panes) and "schema not migrated" in s)
    assert "127.0.0.1" in screen and "***" in screen  # backend URL, masked database URL
    tmux("send-keys", "-t", "smoke", "?")
    tmux.wait_for(lambda s: "command palette" in s)
    tmux("send-keys", "-t", "smoke", "Escape")
    # Wait for the help to close: a key right after ESC would be read as alt+key.
    tmux.wait_for(lambda s: "command palette" not in s and "Migrations" in s)
    tmux("send-keys", "-t", "smoke", "l")
    tmux.wait_for(lambda s: "Request log" in s and "/users" in s)
    tmux("send-keys", "-t", "smoke", "Escape")
    tmux.wait_for(lambda s: "Request log" not in s and "Migrations" in s)
    tmux("send-keys", "-t", "smoke", "q")
    tmux.wait_for(lambda s: "exit=0" in s, within=30)
    # The embedded PostgreSQL was released: no process still holds it.
    pids = json.loads((data_dir / "pgdata" / ".handle_pids.json").read_text())
    assert pids == []

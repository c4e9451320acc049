"""A real terminal for tests: tmux on a private socket, killed at the end."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil

STACKDECK = Path(sys.executable).parent / "stackdeck"


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def run(self, session: str, command: str, cwd: Path, env: dict[str, str]) -> None:
        """A new session of its own running `command` in a 160x45 terminal."""
        new = ["new-session", "-d", "-s", session, "-x", "160", "-y", "45", "-c", str(cwd)]
        subprocess.run(
            ["tmux", "-L", self.socket, *new, command],
            check=True,
            env=env,
            timeout=10,
        )

    def screen(self, session: str = "smoke") -> str:
        return self("capture-pane", "-p", "-t", session)

    def wait_for(
        self, check: Callable[[str], bool], within: float = 60.0, session: str = "smoke"
    ) -> str:
        deadline = time.monotonic() + within
        while True:
            text = self.screen(session)
            if check(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"screen not as expected within {within}s:\n{text}")
            time.sleep(0.2)

    def keys(self, session: str, *keys: str) -> None:
        self("send-keys", "-t", session, *keys)

    def process(self, session: str, name: str = "stackdeck") -> psutil.Process:
        """The pane's process called `name` (the shell's child that runs the console)."""
        pane = psutil.Process(int(self("display-message", "-p", "-t", session, "#{pane_pid}")))
        for process in [pane, *pane.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                if any(Path(word).name == name for word in process.cmdline()[:2]):
                    return process
        raise AssertionError(f"no {name} process in tmux session {session}")

    def alive(self, session: str = "smoke") -> bool:
        return session in self("list-sessions", "-F", "#{session_name}")


@contextlib.contextmanager
def tmux_server() -> Iterator[Tmux]:
    tmux = Tmux(f"stackdeck-test-{uuid.uuid4().hex[:8]}")
    try:
        yield tmux
    finally:
        tmux("kill-server")


def console_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a new user: no STACKDECK_* settings but the data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKDECK_")}
    env.update({"STACKDECK_DATA_DIR": str(data_dir), "TERM": "xterm-256color", **extra})
    return env


def console_command() -> str:
    # The shell records the exit status, then lingers so the final screen can be read.
    return f"{STACKDECK}; echo exit=$?; sleep 60"

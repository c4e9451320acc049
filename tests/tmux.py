"""A real terminal for tests: tmux on a private socket, one session, read as text."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def start(self, command: str, cwd: Path, env: Mapping[str, str]) -> None:
        """Run `command` in a 160x45 window; the shell records its exit status, then lingers
        so the final screen can be read."""
        window = ["-x", "160", "-y", "45", "-c", str(cwd)]
        shell = f"{command}; echo exit=$?; sleep 30"
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-s", "smoke", *window, shell],
            check=True,
            env=dict(env),
            timeout=10,
        )

    def send(self, *keys: str) -> None:
        self("send-keys", "-t", "smoke", *keys)

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


@contextmanager
def tmux_session() -> Iterator[Tmux]:
    session = Tmux(f"stackdeck-test-{uuid.uuid4().hex[:8]}")
    try:
        yield session
    finally:
        session("kill-server")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any STACKDECK_ setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKDECK_")}
    env.update({"TERM": "xterm-256color", **extra})
    return env

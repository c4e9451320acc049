"""A real terminal for tests: tmux on a private socket, read as text.

One session, "smoke", unless a test names others (two consoles side by side, say).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def start(
        self, command: str, cwd: Path, env: Mapping[str, str], session: str = "smoke"
    ) -> None:
        """Run `command` in a 160x45 window; the shell records its exit status, then lingers
        so the final screen can be read."""
        window = ["-x", "160", "-y", "45", "-c", str(cwd)]
        shell = f"{command}; echo exit=$?; sleep 30"
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", "-s", session, *window, shell],
            check=True,
            env=dict(env),
            timeout=10,
        )

    def send(self, *keys: str, session: str = "smoke") -> None:
        self("send-keys", "-t", session, *keys)

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

    def alive(self, session: str = "smoke") -> bool:
        return session in self("list-sessions", "-F", "#{session_name}")

    def process(self, name: str, session: str = "smoke") -> psutil.Process:
        """The process called `name` that the session's shell runs (the console, say)."""
        pane = psutil.Process(int(self("display-message", "-p", "-t", session, "#{pane_pid}")))
        for process in [pane, *pane.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                if any(Path(word).name == name for word in process.cmdline()[:2]):
                    return process
        raise AssertionError(f"no {name} process in tmux session {session}")


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

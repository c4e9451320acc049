"""`stackdeck --profile NAME` in a real terminal (tmux): the installed script reads the config
file and opens the profile's backend, which answers only with the profile's token."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from stackdeck.backend.launcher import BackendThread
from tests.conftest import make_settings

STACKDECK = Path(sys.executable).with_name("stackdeck")
TOKEN = "tmux-profile-t0ken"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def token_backend(database_url: str) -> Iterator[BackendThread]:
    backend = BackendThread(make_settings(database_url, api_token=SecretStr(TOKEN)))
    backend.start()
    try:
        httpx.post(
            f"{backend.url}/users",
            json={"name": "Terminal Tess", "email": "tess@secure.example"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        ).raise_for_status()
        yield backend
    finally:
        backend.stop()


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    socket = f"stackdeck-config-{uuid.uuid4().hex[:8]}"
    yield socket
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def screen_until(socket: str, text: str, within: float = 60.0) -> str:
    deadline = time.monotonic() + within
    while True:
        shown = subprocess.run(
            ["tmux", "-L", socket, "capture-pane", "-p", "-t", "deck"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        if text in shown:
            return shown
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not on screen within {within}s:\n{shown}")
        time.sleep(0.2)


def test_profile_opens_its_backend_with_the_token_from_the_environment(
    token_backend: BackendThread, tmux_socket: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[profiles.secure]\napi_url = "{token_backend.root_url}"\n'
        'token_env = "STACKDECK_TMUX_TOKEN"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKDECK_")}
    env.update({"STACKDECK_TMUX_TOKEN": TOKEN, "TERM": "xterm-256color"})
    command = f"{STACKDECK} --config {config} --profile secure; echo exit=$?; sleep 30"
    size = ["-x", "160", "-y", "45", "-c", str(tmp_path)]
    subprocess.run(
        ["tmux", "-L", tmux_socket, "new-session", "-d", "-s", "deck", *size, command],
        check=True,
        env=env,
        timeout=10,
    )
    shown = screen_until(tmux_socket, "tess@secure.example")
    assert "profile secure" in shown and "READ-ONLY" in shown
    subprocess.run(["tmux", "-L", tmux_socket, "send-keys", "-t", "deck", "q"], timeout=10)
    screen_until(tmux_socket, "exit=0")

"""Real backend processes for tests: `stackdeck serve` on a loopback port, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Backend:
    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"backend exited with {process.returncode} before it was healthy")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"backend at {url} not healthy within {timeout}s")


@contextmanager
def backend_process(
    log_dir: Path, *args: str, env: dict[str, str] | None = None, own_group: bool = False
) -> Iterator[Backend]:
    """Run `stackdeck serve` on a free loopback port; SIGTERM it (then SIGKILL) at the end.

    `own_group`: in a process group of its own, as a terminal's job is (signal it with
    os.killpg); whatever is left of the group at the end is killed, workers included."""
    port = free_port()
    log_path = log_dir / f"backend-{port}.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "stackdeck.backend.cli", "serve", "--port", str(port), *args],
            cwd=REPO_ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=own_group,
        )
    backend = Backend(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_healthy(backend.url, process)
        yield backend
    finally:
        stop(process)
        if own_group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def stop(process: subprocess.Popen[str], timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


Served = tuple[Backend, httpx.AsyncClient]


@asynccontextmanager
async def two_backends(
    database_url: str, log_dir: Path, client_timeout: float = 30
) -> AsyncIterator[tuple[Served, Served]]:
    """Two `stackdeck serve` processes on one database, each with an API client."""
    env = {"STACKDECK_DATABASE_URL": database_url}
    with backend_process(log_dir, env=env) as one, backend_process(log_dir, env=env) as two:
        async with (
            httpx.AsyncClient(base_url=f"{one.url}/api/v1", timeout=client_timeout) as a,
            httpx.AsyncClient(base_url=f"{two.url}/api/v1", timeout=client_timeout) as b,
        ):
            yield (one, a), (two, b)

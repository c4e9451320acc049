"""HTTP figures: stackdeck's read paths against the limit and the naive peer, same run."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.harness import median
from benchmarks.load import LoadResult, wrk
from tests.helpers import free_port
from tests.processes import REPO_ROOT, stop


@dataclass
class Target:
    name: str
    url: str


@contextmanager
def peer(name: str, database_url: str, log_dir: Path) -> Iterator[Target]:
    port = free_port()
    log = (log_dir / f"{name}.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks.peers",
            name,
            "--port",
            str(port),
            "--database-url",
            database_url,
        ],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v1/users/1", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} peer did not start; see {log.name}")
            time.sleep(0.1)
        yield Target(name, url)
    finally:
        stop(process)
        log.close()


def measure(
    target: Target, path: str, seconds: float, repetitions: int, ids: tuple[int, int] | None
) -> LoadResult:
    wrk(target.url, path, seconds=2, id_range=ids)  # warm-up: pools, caches, JIT-less Python paths
    runs = [wrk(target.url, path, seconds=seconds, id_range=ids) for _ in range(repetitions)]
    return LoadResult(
        rps=median([r.rps for r in runs]),
        p50_ms=median([r.p50_ms for r in runs]),
        p99_ms=median([r.p99_ms for r in runs]),
        non_2xx=sum(r.non_2xx for r in runs),
        errors=sum(r.errors for r in runs),
    )


def statements(api: str, path: str) -> int:
    header = httpx.get(f"{api}{path}").headers["server-timing"]
    match = re.search(r'desc="(\d+) statements"', header)
    assert match, header
    return int(match.group(1))

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
def peer(name: str, database_url: str, log_dir: Path, *args: str) -> Iterator[Target]:
    """A peer (benchmarks/peers.py) on a free port, once it answers; `args` go to it."""
    port = free_port()
    label = "".join((name, *args)).replace("-", "")
    log = (log_dir / f"{label}.log").open("w")
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
            *args,
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
        yield Target(label, url)
    finally:
        stop(process)
        log.close()


def measure(
    targets: dict[str, tuple[Target, str]],
    seconds: float,
    repetitions: int,
    ids: tuple[int, int] | None,
) -> dict[str, LoadResult]:
    """Each target's median over the repetitions; targets take turns within each repetition,
    so a neighbour's burst of load (or a checkpoint) falls on all of them, not on one."""
    for target, path in targets.values():  # warm-up: pools, caches, prepared statements
        wrk(target.url, path, seconds=2, id_range=ids)
    runs: dict[str, list[LoadResult]] = {name: [] for name in targets}
    for _ in range(repetitions):
        for name, (target, path) in targets.items():
            runs[name].append(wrk(target.url, path, seconds=seconds, id_range=ids))
    return {
        name: LoadResult(
            rps=median([r.rps for r in results]),
            p50_ms=median([r.p50_ms for r in results]),
            p99_ms=median([r.p99_ms for r in results]),
            non_2xx=sum(r.non_2xx for r in results),
            errors=sum(r.errors for r in results),
        )
        for name, results in runs.items()
    }


def statements(api: str, path: str) -> int:
    header = httpx.get(f"{api}{path}").headers["server-timing"]
    match = re.search(r'desc="(\d+) statements"', header)
    assert match, header
    return int(match.group(1))

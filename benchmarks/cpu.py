"""Server CPU per request under wrk: stackdeck's backend and the limit, taking turns.

CPU (utime + stime of the serving process over a run, divided by the requests it served)
is steadier than a rate on a shared machine, and PostgreSQL's CPU per request is beside it.
On a database of 200 users with 3 posts each, in an embedded PostgreSQL of its own:

    python -m benchmarks.cpu [--write] [--spy DIR] [ENV=VALUE ...]

`--write` loads `POST /users` (a new email each) instead of `GET /users/{id}`; ENV=VALUE
pairs go to stackdeck's backend (STACKDECK_XRAY=off, …); `--spy DIR` records a py-spy
profile of each server instead (raw collapsed stacks, DIR/{stackdeck,limit}.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks import bulk, http
from benchmarks.harness import backend
from benchmarks.load import LoadResult, wrk, wrk_create_users
from tests.pg import create_migrated_template, start_cluster

_TICKS = os.sysconf("SC_CLK_TCK")
USERS = 200


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _postgres_cpu_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                total += _cpu_seconds(int(entry.name))
        except OSError:
            pass  # ended meanwhile
    return total


def _listening_pid(port: int) -> int:
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True)
    return int(out.stdout.split("pid=")[1].split(",")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true")
    parser.add_argument("--spy", type=Path)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("env", nargs="*", help="ENV=VALUE for stackdeck's backend")
    args = parser.parse_args()
    env = dict(pair.split("=", 1) for pair in args.env)

    def load(url: str, seconds: float) -> LoadResult:
        if args.write:
            return wrk_create_users(url, seconds)
        return wrk(url, "/api/v1/users/{id}", seconds, id_range=(1, USERS))

    with tempfile.TemporaryDirectory(prefix="stackdeck-cpu-") as tmp:
        cluster = start_cluster(Path(tmp) / "pg")
        try:
            name = asyncio.run(create_migrated_template(cluster))
            url = cluster.url_for(name)
            bulk.seed(url, USERS, posts_per_user=3)
            bulk.vacuum(url)
            logs = Path(tmp)
            with backend(url, logs, env=env) as ours, http.peer("limit", url, logs) as limit:
                limit_port = int(limit.url.rsplit(":", 1)[1])
                targets = {
                    "stackdeck": (ours.url, ours.process.pid),
                    "limit": (limit.url, _listening_pid(limit_port)),
                }
                for target_url, _ in targets.values():
                    load(target_url, 2)  # warm-up
                if args.spy is not None:
                    _spy(args.spy, targets, load)
                    return
                runs: dict[str, list[tuple[float, ...]]] = {name: [] for name in targets}
                for _ in range(3):
                    for name, (target_url, pid) in targets.items():
                        cpu, pg = _cpu_seconds(pid), _postgres_cpu_seconds()
                        result = load(target_url, args.seconds)
                        served = result.rps * args.seconds
                        runs[name].append(
                            (
                                result.rps,
                                result.p99_ms,
                                (_cpu_seconds(pid) - cpu) / served * 1e6,
                                (_postgres_cpu_seconds() - pg) / served * 1e6,
                            )
                        )
        finally:
            if cluster.embedded is not None:
                cluster.embedded.stop()
    medians = {
        name: [statistics.median(c) for c in zip(*r, strict=True)] for name, r in runs.items()
    }
    for name, (rps, p99, server, postgres) in medians.items():
        print(
            f"{name:9} {rps:6.0f} req/s  p99 {p99:5.1f} ms  "
            f"server {server:5.0f} us/request  PostgreSQL {postgres:4.0f} us/request"
        )
    print(f"req/s over the limit's: {medians['stackdeck'][0] / medians['limit'][0]:.2f}")


def _spy(
    into: Path, targets: dict[str, tuple[str, int]], load: Callable[[str, float], LoadResult]
) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for name, (target_url, pid) in targets.items():
        py_spy = str(Path(sys.executable).parent / "py-spy")
        output = str(into / f"{name}.txt")
        spy = subprocess.Popen(
            [py_spy, "record", "-r", "500", "-f", "raw", "-d", "6", "-o", output, "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        load(target_url, 8)
        spy.wait()


if __name__ == "__main__":
    main()

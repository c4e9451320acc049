"""`POST /users` against the write limit: Starlette and raw asyncpg running the same
transaction by hand (benchmarks/peers.py), with the X-ray recording and without it.

wrk posts a new email every request (load.wrk_create_users), 32 connections; the four
targets take turns within each repetition, so a neighbour's burst falls on all of them.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import http
from benchmarks.harness import backend, median
from benchmarks.load import LoadResult, wrk_create_users


def against_the_limit(
    on: http.Target, database_url: str, logs: Path, quick: bool
) -> dict[str, list[LoadResult]]:
    """Each repetition's writes/s of stackdeck with the X-ray on (`on`, the main backend)
    and off (a second backend), and of the limit recording for the X-ray and not: keyed
    "on", "off", "limit on", "limit off"."""
    seconds, repetitions = (3.0, 2) if quick else (10.0, 3)
    with (
        backend(database_url, logs, {"STACKDECK_XRAY": "off"}) as server,
        http.peer("limit", database_url, logs, "--xray") as limit_on,
        http.peer("limit", database_url, logs) as limit_off,
    ):
        targets = {
            "on": on,
            "limit on": limit_on,
            "off": http.Target("off", server.url),
            "limit off": limit_off,
        }
        for target in targets.values():  # warm-up: pools, prepared statements
            wrk_create_users(target.url, seconds=1)
        runs: dict[str, list[LoadResult]] = {name: [] for name in targets}
        for _ in range(repetitions):
            for name, target in targets.items():
                runs[name].append(wrk_create_users(target.url, seconds))
    return runs


def paired_ratio(ours: list[LoadResult], limit: list[LoadResult]) -> float:
    """The median of each repetition's ratio: the pair ran back to back."""
    return median([o.rps / t.rps for o, t in zip(ours, limit, strict=True)])

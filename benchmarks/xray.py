"""The X-ray's cost: by-id reads and writes with it on against off, in turns in one run."""

from __future__ import annotations

import asyncio
from pathlib import Path

from benchmarks import http, stream
from benchmarks.harness import backend, median
from benchmarks.load import LoadResult


def xray_overhead(
    on: http.Target, database_url: str, logs: Path, users: int, quick: bool
) -> tuple[tuple[LoadResult, LoadResult], tuple[float, float]]:
    """By-id reads and writes with the X-ray on (`on`, the main backend) and off (a second
    backend on the same database): ((read on, read off), (writes/s on, writes/s off))."""
    seconds, repetitions = (3.0, 1) if quick else (10.0, 3)
    with backend(database_url, logs, {"STACKDECK_XRAY": "off"}) as server:
        off = http.Target("xray off", server.url)
        reads = http.measure(
            {t.name: (t, "/api/v1/users/{id}") for t in (on, off)}, seconds, repetitions, (1, users)
        )
        writes: dict[str, list[float]] = {on.name: [], off.name: []}
        for _ in range(repetitions):
            for target in (on, off):
                run = asyncio.run(stream.writer_throughput(f"{target.url}/api/v1", 0, seconds))
                writes[target.name].append(run.per_second)
    return (reads[on.name], reads[off.name]), (
        median(writes[on.name]),
        median(writes[off.name]),
    )

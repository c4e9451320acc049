"""Commit-to-event latency on the SSE stream, and what subscribers cost the writers.

Writes arrive open-loop at a fixed rate (200/s) while 20 subscribers read the stream; the
latency of an event is its arrival time minus the log row's occurred_at (taken just before
the commit, on the same machine's clock). Writer throughput is measured closed-loop with
no subscribers and with 20, in the same run, and reported as a ratio. In both the
subscribers run in their own process (benchmarks/stream_readers.py), timing arrivals
without parsing them as they come: the figures are the server's, not what parsing 4,000
events a second in Python costs the writer's own event loop (that put 100 ms on the p99).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.harness import percentile

_emails = itertools.count()


async def _create(client: httpx.AsyncClient) -> int:
    n = next(_emails)
    response = await client.post("/users", json={"name": f"B{n}", "email": f"b{n}@bench.io"})
    return response.status_code


async def latency(api: str, subscribers: int, rate: float, seconds: float) -> dict[str, float]:
    readers = await _spawn_readers(api, subscribers, timed=True)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    try:
        async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as client:
            writes: list[asyncio.Task[int]] = []
            started = time.perf_counter()
            for i in range(int(rate * seconds)):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                writes.append(asyncio.create_task(_create(client)))
            statuses = await asyncio.gather(*writes)
        found = await _collect(readers, len(statuses))
    finally:
        if readers.returncode is None:
            readers.kill()
            await readers.wait()
    assert isinstance(found, dict)
    samples: list[float] = found["latencies_ms"]
    return {
        "writes": len(statuses),
        "delivered_to_each": min(found["received"]),
        "p50_ms": percentile(samples, 50),
        "p99_ms": percentile(samples, 99),
        "max_ms": max(samples) if samples else float("nan"),
    }


@dataclass
class WriterRun:
    """A closed-loop writer run: its rate, and what each subscriber received meanwhile."""

    per_second: float
    writes: int  # every response, any status: each write's outcome is an event
    received: list[int]  # events per subscriber

    @property
    def missed(self) -> int:
        """Subscribers that did not receive every event."""
        return sum(1 for n in self.received if n < self.writes)


async def writer_throughput(
    api: str, subscribers: int, seconds: float, concurrency: int = 16, warmup: float = 0.5
) -> WriterRun:
    """POSTs from `concurrency` tasks in a closed loop, the subscribers in another process.

    The first `warmup` seconds (connections opening, caches filling) are not counted.
    """
    readers = await _spawn_readers(api, subscribers) if subscribers else None
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    try:
        async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as client:
            writes = counted = 0
            measure_from = time.perf_counter() + warmup
            stop_at = measure_from + seconds

            async def worker() -> None:
                nonlocal writes, counted
                while (now := time.perf_counter()) < stop_at:
                    status = await _create(client)
                    writes += 1
                    if status == 201 and now >= measure_from:
                        counted += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        received = await _collect(readers, writes) if readers else []
    finally:
        if readers is not None and readers.returncode is None:
            readers.kill()
            await readers.wait()
    return WriterRun(counted / seconds, writes, received)


async def _spawn_readers(api: str, count: int, timed: bool = False) -> asyncio.subprocess.Process:
    """benchmarks.stream_readers, once every one of its streams is subscribed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.stream_readers",
        api,
        str(count),
        *(["timed"] if timed else []),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if line.strip() != b"ready":
        process.kill()
        raise RuntimeError(f"stream readers did not start: {line!r}")
    return process


async def _collect(process: asyncio.subprocess.Process, expected: int) -> Any:
    """What the readers print once every stream has `expected` events (or they gave up)."""
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"expect {expected}\n".encode())
    await process.stdin.drain()
    # A timed run's answer is one long line: no readline limit for it.
    found = json.loads(await process.stdout.read())
    await process.wait()
    return found

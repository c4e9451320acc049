"""Commit-to-event latency on the SSE stream, and what subscribers cost the writers.

Writes arrive open-loop at a fixed rate (200/s) while 20 subscribers read the stream; the
latency of an event is its arrival time minus the log row's occurred_at (taken just before
the commit, on the same machine's clock). Writer throughput is measured closed-loop with
no subscribers and with 20, in the same run, and reported as a ratio; there the subscribers
run in their own process (benchmarks/stream_readers.py), so the figure is what they cost
the server, not what parsing their events costs the writer's own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from httpx_sse import aconnect_sse

from benchmarks.harness import percentile
from tests.helpers import eventually

_emails = itertools.count()


@dataclass
class Reader:
    arrivals: dict[int, float] = field(default_factory=dict)
    occurred: dict[int, float] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, client: httpx.AsyncClient) -> None:
        async with aconnect_sse(client, "GET", "/transactions/stream", timeout=None) as source:
            async for sse in source.aiter_sse():
                if not sse.data:  # subscribed
                    self.connected.set()
                    continue
                now = time.time()
                record = json.loads(sse.data)
                self.arrivals[record["id"]] = now
                self.occurred[record["id"]] = datetime.fromisoformat(
                    record["occurred_at"]
                ).timestamp()


async def _create(client: httpx.AsyncClient) -> int:
    n = next(_emails)
    response = await client.post("/users", json={"name": f"B{n}", "email": f"b{n}@bench.io"})
    return response.status_code


async def _start_readers(
    client: httpx.AsyncClient, count: int
) -> tuple[list[Reader], list[asyncio.Task[None]]]:
    readers = [Reader() for _ in range(count)]
    tasks = [asyncio.create_task(r.run(client)) for r in readers]
    await asyncio.wait_for(asyncio.gather(*(r.connected.wait() for r in readers)), 30)
    return readers, tasks


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def latency(api: str, subscribers: int, rate: float, seconds: float) -> dict[str, float]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as client:
        readers, tasks = await _start_readers(client, subscribers)
        writes: list[asyncio.Task[int]] = []
        started = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            writes.append(asyncio.create_task(_create(client)))
        statuses = await asyncio.gather(*writes)
        expected = len(statuses)
        with contextlib.suppress(AssertionError):  # what did not arrive is reported below
            await eventually(lambda: all(len(r.arrivals) >= expected for r in readers), 15)
        await _stop(tasks)
    samples = [
        (reader.arrivals[i] - reader.occurred[i]) * 1000
        for reader in readers
        for i in reader.arrivals
    ]
    delivered = min(len(r.arrivals) for r in readers)
    return {
        "writes": expected,
        "delivered_to_each": delivered,
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


async def _spawn_readers(api: str, count: int) -> asyncio.subprocess.Process:
    """benchmarks.stream_readers, once every one of its streams is subscribed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.stream_readers",
        api,
        str(count),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    if line.strip() != b"ready":
        process.kill()
        raise RuntimeError(f"stream readers did not start: {line!r}")
    return process


async def _collect(process: asyncio.subprocess.Process, expected: int) -> list[int]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"expect {expected}\n".encode())
    await process.stdin.drain()
    counts: list[int] = json.loads(await process.stdout.readline())
    await process.wait()
    return counts

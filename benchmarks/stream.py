"""Commit-to-event latency on the SSE stream, and what subscribers cost the writers.

Writes arrive open-loop at a fixed rate (200/s) while 20 subscribers read the stream; the
latency of an event is its arrival time minus the log row's occurred_at (taken just before
the commit, on the same machine's clock). Writer throughput is measured closed-loop with
no subscribers and with 20, in the same run, and reported as a ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
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


async def writer_throughput(
    api: str, subscribers: int, seconds: float, concurrency: int = 16
) -> float:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=api, timeout=60, limits=limits) as client:
        _, tasks = await _start_readers(client, subscribers) if subscribers else ([], [])
        done = 0
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                if await _create(client) == 201:
                    done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        await _stop(tasks)
    return done / elapsed

"""A soak: mixed reads and writes at a fixed rate on two backend processes, a subscriber on each.

The suite runs it for 10 s (60 s in `just test-all`), the benchmark harness for 60 s. It works
on a database that already holds rows: it compares what changed while it ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import psutil

from tests.helpers import eventually
from tests.pg import asyncpg_dsn
from tests.processes import two_backends
from tests.sse import Subscriber


@dataclass
class SoakResult:
    seconds: float
    statuses: Counter[int]
    new_users: int
    log_ids: list[int]  # log rows written during the soak, in id order
    committed: int
    received: list[list[int]]  # the log ids each subscriber was sent
    rss_warm: list[int] = field(default_factory=list)
    rss_final: list[int] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def rss_growth(self) -> float:
        """The worst backend's final RSS over its warm-up RSS."""
        return max(
            after / before for before, after in zip(self.rss_warm, self.rss_final, strict=True)
        )

    def disagreements(self) -> list[str]:
        """Everything that does not add up exactly; empty when rows, log and events agree."""
        found = []
        if not set(self.statuses) <= {200, 201, 409}:
            found.append(f"unexpected statuses {dict(self.statuses)}")
        if not self.committed == self.statuses[201] == self.new_users:
            found.append(
                f"{self.statuses[201]} creates answered 201, {self.committed} committed log "
                f"rows, {self.new_users} new users"
            )
        if len(self.log_ids) - self.committed != self.statuses[409]:
            found.append(
                f"{self.statuses[409]} answered 409 but "
                f"{len(self.log_ids) - self.committed} rolled-back log rows"
            )
        for n, ids in enumerate(self.received):
            if ids != self.log_ids:
                found.append(
                    f"subscriber {n} got {len(ids)} events, the log has {len(self.log_ids)}"
                )
        return found


async def _snapshot(database_url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        users = await conn.fetchval("SELECT count(*) FROM users")
        last_log = await conn.fetchval("SELECT coalesce(max(id), 0) FROM transaction_log")
        return int(users), int(last_log)
    finally:
        await conn.close()


async def _log_since(database_url: str, after: int) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT id, outcome FROM transaction_log WHERE id > $1 ORDER BY id", after
        )
        return [(r["id"], r["outcome"]) for r in rows]
    finally:
        await conn.close()


async def soak(
    database_url: str, log_dir: Path, seconds: float, rate: float = 40, seed: int = 11
) -> SoakResult:
    """Run the load; return what the clients saw beside what the database and streams hold."""
    users_before, log_before = await _snapshot(database_url)
    async with two_backends(database_url, log_dir) as ((one, a), (two, b)):
        readers = [Subscriber(a).start(), Subscriber(b).start()]
        for reader in readers:
            await asyncio.wait_for(reader.connected.wait(), 10)
        rng = random.Random(seed)
        tag = rng.getrandbits(32)
        statuses: Counter[int] = Counter()
        processes = [psutil.Process(one.process.pid), psutil.Process(two.process.pid)]
        warm: list[int] = []
        started = time.monotonic()
        n = 0
        while (elapsed := time.monotonic() - started) < seconds:
            client = a if n % 2 else b
            kind = rng.random()
            if kind < 0.5:
                email = f"s{rng.randrange(n + 1)}-{tag}@soak.io"  # repeats make some 409s
                response = await client.post("/users", json={"name": "S", "email": email})
            elif kind < 0.9:
                response = await client.get("/users", params={"limit": 50, "embed": "posts"})
            else:
                response = await client.get("/transactions/stats")
            statuses[response.status_code] += 1
            n += 1
            if not warm and elapsed > min(3, seconds / 3):
                warm = [p.memory_info().rss for p in processes]
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        final = [p.memory_info().rss for p in processes]
        elapsed = time.monotonic() - started

        users_after, _ = await _snapshot(database_url)
        log = await _log_since(database_url, log_before)
        log_ids = [id_ for id_, _ in log]

        def caught_up() -> bool:
            return all(len([i for i in r.ids if i > log_before]) >= len(log) for r in readers)

        with contextlib.suppress(AssertionError):  # disagreements() names who fell short
            await eventually(caught_up, within=20)
        received = [[i for i in r.ids if i > log_before] for r in readers]
        for reader in readers:
            await reader.stop()
    return SoakResult(
        seconds=elapsed,
        statuses=statuses,
        new_users=users_after - users_before,
        log_ids=log_ids,
        committed=sum(outcome == "committed" for _, outcome in log),
        received=received,
        rss_warm=warm,
        rss_final=final,
    )

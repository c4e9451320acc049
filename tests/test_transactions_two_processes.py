"""Nothing lost, nothing invented: two backend processes, concurrent writes, three streams."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

from tests.helpers import eventually
from tests.processes import two_backends
from tests.sse import Subscriber
from tests.test_transactions import count, log_rows

WRITES = 500


async def test_every_outcome_reaches_every_subscriber_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    async with two_backends(database_url, tmp_path, client_timeout=60) as ((_, a), (_, b)):
        on_one, on_two = Subscriber(a).start(), Subscriber(b).start()
        interrupted = Subscriber(b).start()
        for subscriber in (on_one, on_two, interrupted):
            await asyncio.wait_for(subscriber.connected.wait(), 15)

        rng = random.Random(7)
        # About one write in five reuses an earlier email (in another case): a 409.
        emails = [f"user{i}@example.com" for i in range(WRITES)]
        for i in range(WRITES):
            if i > 10 and rng.random() < 0.2:
                emails[i] = emails[rng.randrange(i)].upper()
        gate = asyncio.Semaphore(32)

        async def create(i: int) -> int:
            async with gate:
                client = a if i % 2 else b
                body = {"name": f"U{i}", "email": emails[i]}
                return (await client.post("/users", json=body)).status_code

        writes = [asyncio.create_task(create(i)) for i in range(WRITES)]
        # Disconnect one subscriber mid-run, then resume it with Last-Event-ID.
        await eventually(lambda: len(interrupted.events) >= 50, within=60)
        await interrupted.stop()
        resumed = Subscriber(b, last_event_id=interrupted.last_event_id).start()
        statuses = Counter(await asyncio.gather(*writes))

        assert set(statuses) <= {201, 409}, statuses
        assert statuses[409] >= WRITES * 0.1
        rows = await log_rows(database_url)
        assert len(rows) == WRITES
        committed = [r["id"] for r in rows if r["outcome"] == "committed"]
        rolled_back = [r["id"] for r in rows if r["outcome"] == "rolled_back"]
        assert statuses[201] == len(committed) == await count(database_url, "users")
        assert statuses[409] == len(rolled_back)

        everything = [r["id"] for r in rows]
        missed = WRITES - len(interrupted.events)
        await eventually(lambda: len(on_one.events) >= WRITES, within=60)
        await eventually(lambda: len(on_two.events) >= WRITES, within=60)
        await eventually(lambda: len(resumed.events) >= missed, within=60)
        for subscriber in (on_one, on_two):
            assert subscriber.ids == everything
            by_outcome = Counter(e["outcome"] for e in subscriber.events)
            assert by_outcome == {"committed": statuses[201], "rolled_back": statuses[409]}
        assert interrupted.ids + resumed.ids == everything
        for subscriber in (on_one, on_two, resumed):
            await subscriber.stop()

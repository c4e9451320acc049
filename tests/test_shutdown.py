"""SIGTERM to `stackdeck serve`: in-flight requests finish, streams end, clients resume."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from tests.faults import table_locked, until_waiting
from tests.helpers import eventually
from tests.processes import two_backends
from tests.sse import Subscriber


async def test_sigterm_finishes_requests_ends_streams_and_clients_resume_elsewhere(
    database_url: str, tmp_path: Path
) -> None:
    async with two_backends(database_url, tmp_path) as ((leaving, a), (_, b)):
        reader = Subscriber(a).start()
        await asyncio.wait_for(reader.connected.wait(), 10)
        assert (await a.post("/users", json={"name": "A", "email": "a@x.io"})).status_code == 201
        await eventually(lambda: len(reader.events) == 1)

        async with table_locked(database_url):
            in_flight = asyncio.create_task(a.post("/users", json={"name": "B", "email": "b@x.io"}))
            await until_waiting(database_url)
            leaving.process.send_signal(signal.SIGTERM)
            stopped_at = time.monotonic()
            # The stream ends at once and cleanly, while the request is still waiting.
            assert reader._task is not None
            await asyncio.wait_for(asyncio.shield(reader._task), 5)
            assert not in_flight.done()
        finished = await in_flight
        assert finished.status_code == 201
        assert await asyncio.to_thread(leaving.process.wait, 15) == 0
        assert time.monotonic() - stopped_at < 8  # well before the 10 s graceful limit

        assert (await b.post("/users", json={"name": "C", "email": "c@x.io"})).status_code == 201
        resumed = Subscriber(b, last_event_id=reader.last_event_id).start()
        await eventually(lambda: len(resumed.events) >= 2)
        assert reader.ids + resumed.ids == [1, 2, 3]
        await resumed.stop()

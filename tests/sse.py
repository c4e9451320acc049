"""An SSE subscriber for tests: collects transaction events in the background."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse


@dataclass
class Subscriber:
    """Reads /transactions/stream into `events` until stopped."""

    client: httpx.AsyncClient
    last_event_id: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    worker: str | None = None  # the X-Stackdeck-Worker that serves the stream, if any
    _task: asyncio.Task[None] | None = None

    def start(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        headers = {}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        async with aconnect_sse(
            self.client, "GET", "/transactions/stream", headers=headers, timeout=None
        ) as source:
            self.worker = source.response.headers.get("x-stackdeck-worker")
            async for sse in source.aiter_sse():
                if not sse.data:  # the first message: subscribed, nothing will be missed
                    assert sse.retry == 2000
                    self.connected.set()
                    continue
                record = json.loads(sse.data)
                assert sse.id == str(record["id"]) and sse.event == record["outcome"]
                self.events.append(record)
                self.last_event_id = record["id"]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def ids(self) -> list[int]:
        return [e["id"] for e in self.events]

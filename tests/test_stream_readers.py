"""The benchmark's stream readers count every event in raw chunked bytes, however split."""

from __future__ import annotations

import asyncio

from benchmarks.stream_readers import Reader
from stackdeck.backend.api.transactions import SUBSCRIBED
from stackdeck.backend.services.events import LogEvent


def _chunk(body: bytes) -> bytes:
    return b"%x\r\n" % len(body) + body + b"\r\n"


def test_every_event_counted_across_any_split() -> None:
    events = [LogEvent(i, "committed", f'{{"id": {i}, "detail": "id: {i}"}}') for i in range(5)]
    raw = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        + _chunk(SUBSCRIBED)
        + _chunk(events[0].frame)
        + _chunk(b"".join(e.frame for e in events[1:4]))
        + _chunk(events[4].frame)
    )

    async def count(split: int) -> int:
        reader = Reader()
        for start in range(0, len(raw), split):
            reader.data_received(raw[start : start + split])
        assert reader.subscribed.is_set()
        return reader.events

    for split in (1, 2, 3, 5, 7, 64, len(raw)):
        assert asyncio.run(count(split)) == len(events), split

"""Stream subscribers in their own process: `python -m benchmarks.stream_readers API COUNT
[timed]`.

The writer-throughput figure measures what subscribers cost the server's writers, so the
subscribers must not share the writer's event loop, and on a machine of two cores they must
cost as little CPU as a reader can: each is a bare asyncio protocol that counts the events
in the bytes it receives, without decoding them. Protocol, one line each way:

- once every stream has sent its `: subscribed` comment, prints `ready`;
- reads `expect N` on stdin, waits (at most TIMEOUT s) until every stream has N events,
  then prints the events each stream received as a JSON list and exits;
- `timed`: each read's bytes are kept with their arrival time, and the last line is instead
  {"received": [...], "latencies_ms": [...]}: every event's arrival at every stream minus
  its occurred_at, worked out after the run, so timing costs the reading nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from datetime import datetime
from urllib.parse import urlsplit

TIMEOUT = 15.0
SUBSCRIBED = b": subscribed"
# Every frame's first line is `id: N` (backend/services/events.py). JSON data holds no raw
# newline, so each event is one `\nid: ` in the raw bytes, whether the line before it is
# the previous frame's blank line or a chunk-size line of the chunked encoding.
EVENT = b"\nid: "
# A frame's data is the log row's JSON; its occurred_at is what a latency is measured from.
OCCURRED = re.compile(rb'\nid: \d+\n[^\n]*\ndata: [^\n]*?"occurred_at": ?"([^"]+)"')


class Reader(asyncio.Protocol):
    def __init__(self, timed: bool = False) -> None:
        self.timed = timed
        self.reads: list[tuple[float, bytes]] = []  # (arrival, bytes) while timed
        self.events = 0
        self.subscribed = asyncio.Event()
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        self._head = b""  # what came before `: subscribed`: the status line, the headers
        self._tail = b""  # the last bytes, shorter than EVENT: a match may span two reads

    def data_received(self, data: bytes) -> None:
        if not self.subscribed.is_set():
            self._head += data
            if SUBSCRIBED not in self._head:
                return
            if not self._head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(self._head.split(b"\r\n", 1)[0].decode())
            self.subscribed.set()
            data = self._head
        if self.timed:
            self.reads.append((time.time(), data))
        window = self._tail + data
        self.events += window.count(EVENT)
        self._tail = window[-(len(EVENT) - 1) :]
        self.changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        self.changed.set()

    def latencies_ms(self) -> list[float]:
        """Each event's arrival (its frame's last read) minus its occurred_at."""
        stream = b"".join(data for _, data in self.reads)
        ends, arrivals, offset = [], [], 0
        for arrival, data in self.reads:
            offset += len(data)
            ends.append(offset)
            arrivals.append(arrival)
        samples, read = [], 0
        for match in OCCURRED.finditer(stream):
            while ends[read] < match.end():
                read += 1
            occurred = datetime.fromisoformat(match.group(1).decode()).timestamp()
            samples.append((arrivals[read] - occurred) * 1000)
        return samples

    async def wait_for(self, expected: int) -> None:
        while self.events < expected and not self.closed.is_set():
            self.changed.clear()
            await self.changed.wait()


async def _subscribe(api: str, timed: bool) -> tuple[asyncio.Transport, Reader]:
    url = urlsplit(api)
    assert url.hostname is not None and url.port is not None, api
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_connection(lambda: Reader(timed), url.hostname, url.port)
    transport.write(
        f"GET {url.path}/transactions/stream HTTP/1.1\r\nHost: {url.netloc}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    return transport, reader


async def main(api: str, count: int, timed: bool = False) -> int:
    streams = [await _subscribe(api, timed) for _ in range(count)]
    readers = [reader for _, reader in streams]
    await asyncio.wait_for(asyncio.gather(*(r.subscribed.wait() for r in readers)), 30)
    print("ready", flush=True)
    command, expected = (await asyncio.to_thread(sys.stdin.readline)).split()
    assert command == "expect", command
    # What did not arrive is reported: the counts say who missed what.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(r.wait_for(int(expected)) for r in readers)), TIMEOUT
        )
    for transport, _ in streams:
        transport.close()
    received = [r.events for r in readers]
    if timed:
        latencies = [sample for r in readers for sample in r.latencies_ms()]
        print(json.dumps({"received": received, "latencies_ms": latencies}), flush=True)
    else:
        print(json.dumps(received), flush=True)
    return 0


if __name__ == "__main__":
    timed = sys.argv[3:] == ["timed"]
    raise SystemExit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), timed)))

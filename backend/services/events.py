"""Fan-out of transaction events to this process's stream subscribers.

Each subscriber has a bounded queue. One that falls behind is never waited for: its queue
stops filling and it is told to resync from the table, so a slow reader costs writers and
other readers nothing and memory stays bounded.

Events are handed to subscribers in batches, every FLUSH_INTERVAL at most: one wake-up and
one socket write per subscriber per batch rather than per event. Under write load that
write per event per subscriber was what subscribers cost the writers; the price is at most
FLUSH_INTERVAL of added latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.01  # seconds an event may wait for others to share its wake-up


@dataclass(frozen=True, slots=True)
class LogEvent:
    id: int
    outcome: str
    json: str
    # The event as a stream sends it, encoded once here rather than once per subscriber.
    frame: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        frame = f"id: {self.id}\nevent: {self.outcome}\ndata: {self.json}\n\n".encode()
        object.__setattr__(self, "frame", frame)


class Heartbeat:
    """Nothing happened for a while: a stream may tell its client it is still alive."""


HEARTBEAT = Heartbeat()


@dataclass(eq=False)
class Subscription:
    queue: asyncio.Queue[LogEvent | None]
    lagging: bool = False
    closed: bool = False
    hub: EventHub | None = field(default=None, repr=False)

    def mark_lagging(self) -> None:
        self.lagging = True
        self.wake()

    def wake(self) -> None:
        """Wake a reader blocked on an empty queue; a full queue wakes it anyway."""
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)

    def end(self) -> None:
        """The server is shutting down: the stream ends, and its client resumes elsewhere."""
        self.closed = True
        self.drain()
        self.queue.put_nowait(None)

    def drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    def close(self) -> None:
        if self.hub is not None:
            self.hub.unsubscribe(self)


class EventHub:
    def __init__(self, queue_size: int = 1000, flush_interval: float = FLUSH_INTERVAL) -> None:
        self.queue_size = queue_size
        self.flush_interval = flush_interval
        self._subscribers: set[Subscription] = set()
        self._pending: list[LogEvent] = []
        self._flush: asyncio.TimerHandle | None = None
        self.closing = False

    def subscribe(self) -> Subscription:
        subscription = Subscription(asyncio.Queue(self.queue_size), hub=self)
        self._subscribers.add(subscription)
        if self.closing:
            subscription.end()
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, event: LogEvent) -> None:
        self._pending.append(event)
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self.flush_interval, self._deliver)

    def _deliver(self) -> None:
        # All in one callback: a subscriber's task runs once, after, and takes them all.
        self._flush = None
        events, self._pending = self._pending, []
        for subscription in self._subscribers:
            if subscription.lagging:
                continue
            try:
                for event in events:
                    subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.mark_lagging()

    def close_all(self) -> None:
        self.closing = True
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        for subscription in list(self._subscribers):
            subscription.end()

    def resync_all(self) -> None:
        """Events may have been missed (the LISTEN connection dropped): re-read the table."""
        for subscription in self._subscribers:
            subscription.mark_lagging()

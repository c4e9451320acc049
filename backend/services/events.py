"""Fan-out of transaction events to this process's stream subscribers.

Each subscriber has a bounded queue. One that falls behind is never waited for: its queue
stops filling and it is told to resync from the table, so a slow reader costs writers and
other readers nothing and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


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
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._subscribers: set[Subscription] = set()
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
        for subscription in self._subscribers:
            if subscription.lagging:
                continue
            try:
                subscription.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscription.mark_lagging()

    def close_all(self) -> None:
        self.closing = True
        for subscription in list(self._subscribers):
            subscription.end()

    def resync_all(self) -> None:
        """Events may have been missed (the LISTEN connection dropped): re-read the table."""
        for subscription in self._subscribers:
            subscription.mark_lagging()

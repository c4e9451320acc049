"""The transaction log as a feature: history, per-second stats and a gap-free live stream."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from operator import itemgetter

from pydantic import TypeAdapter

from stackdeck.backend.db.reads import ReadPool, Record
from stackdeck.backend.errors import NotFound
from stackdeck.backend.repositories.transactions import TransactionRows
from stackdeck.backend.schemas.transactions import (
    OutcomeTotals,
    StatsBucket,
    TransactionRead,
    TransactionStats,
)
from stackdeck.backend.schemas.xray import TransactionDetail
from stackdeck.backend.services.events import HEARTBEAT, EventHub, Heartbeat, LogEvent, Subscription
from stackdeck.backend.services.paging import split_page

log = logging.getLogger(__name__)

REPLAY_PAGE = 500


_RECORDS = TypeAdapter(list[TransactionRead])


def event_from_row(row: Record) -> LogEvent:
    record = TransactionRead.model_validate(dict(row))
    return LogEvent(record.id, record.outcome, record.model_dump_json())


def event_from_payload(payload: str) -> LogEvent:
    """A NOTIFY payload (row_to_json of the log row) as the same JSON the table gives."""
    record = TransactionRead.model_validate_json(payload)
    return LogEvent(record.id, record.outcome, record.model_dump_json())


class TransactionQueries:
    """Reads of the log, on the read path; `min_lsn` as for the other queries."""

    def __init__(self, reads: ReadPool, min_lsn: int | None = None) -> None:
        self.reads = reads
        self.min_lsn = min_lsn

    async def page(
        self, after: int | None, limit: int, descending: bool
    ) -> tuple[list[TransactionRead], int | None]:
        async with self.reads.connection(self.min_lsn) as connection:
            rows = await TransactionRows(connection).page_after(after, limit + 1, descending)
        page, next_cursor = split_page(rows, limit, itemgetter("id"))
        return _RECORDS.validate_python([dict(row) for row in page]), next_cursor

    async def detail(self, transaction_id: int) -> TransactionDetail:
        async with self.reads.connection(self.min_lsn) as connection:
            row = await TransactionRows(connection).with_xray(transaction_id)
        if row is None:
            raise NotFound(f"no transaction {transaction_id}")
        record = dict(row)
        for column in ("statements", "changes"):  # jsonb reaches the read pool as text
            if isinstance(record[column], str):
                record[column] = json.loads(record[column])
        return TransactionDetail.model_validate(record)

    async def stats(self, window: int) -> TransactionStats:
        async with self.reads.connection(self.min_lsn) as connection:
            log = TransactionRows(connection)
            seconds = await log.per_second(window)
            totals = await log.totals()
        return TransactionStats(
            window=window,
            buckets=[StatsBucket(at=at, committed=c, rolled_back=r) for at, c, r in seconds],
            totals=OutcomeTotals(
                committed=totals.get("committed", 0), rolled_back=totals.get("rolled_back", 0)
            ),
        )


class _Ticker:
    """Marks a stream's heartbeat due after a quiet interval: one timer a stream, none an event.

    (A timeout around every queue wait would arm and cancel a timer per event per
    subscriber.) A stream quiet since the last tick is woken with the heartbeat due.
    """

    def __init__(self, subscription: Subscription, interval: float) -> None:
        self.subscription = subscription
        self.interval = interval
        self.quiet = True
        self.due = False
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(interval, self._tick)

    def _tick(self) -> None:
        if self.quiet:
            self.due = True
            self.subscription.wake()
        self.quiet = True
        self._handle = self._loop.call_later(self.interval, self._tick)

    def cancel(self) -> None:
        self._handle.cancel()


class TransactionStream:
    """One subscriber's events: what it missed (from the table), then live, in id order.

    Log ids are handed out in commit order (see services/outcomes.py), so "everything
    after the last id delivered" is exact: no gap and, with the id check, no duplicate.
    That holds on the primary only: the live events come from it (LISTEN), and a standby
    behind them would leave a gap between the table and the live events. So the stream
    reads the table on the primary.
    """

    def __init__(self, reads: ReadPool, hub: EventHub, last_id: int | None) -> None:
        self.reads = reads
        self.hub = hub
        self.requested_from = last_id
        self.last_id = 0

    async def events(
        self, heartbeat: float | None = None
    ) -> AsyncIterator[LogEvent | Heartbeat | None]:
        """The events; the first item is None, once the stream is subscribed.

        From that moment on, every outcome that commits will be delivered: a client can
        wait for it before it writes what it wants to watch. With `heartbeat`, HEARTBEAT
        comes every that many seconds while the stream is quiet (the first one within two
        intervals of the last event).
        """
        async for batch in self.batches(heartbeat):
            if isinstance(batch, list):
                for event in batch:
                    yield event
            else:
                yield batch

    async def batches(
        self, heartbeat: float | None = None
    ) -> AsyncIterator[list[LogEvent] | Heartbeat | None]:
        """events(), with whatever is already waiting handed over as one list.

        A subscriber that wakes up to several events then writes them in one go: under a
        burst of writes, one send per wake-up rather than one per event.
        """
        # Subscribe before reading the table, so nothing committing meanwhile is missed.
        subscription = self.hub.subscribe()
        try:
            if self.requested_from is not None:
                self.last_id = self.requested_from
            else:
                # A new subscriber starts from now: the newest id is where it "left off".
                async with self.reads.connection(primary=True) as connection:
                    self.last_id = await TransactionRows(connection).newest_id()
            yield None
            async for page in self._replay():
                yield page
            async for item in self._live(subscription, heartbeat):
                yield item
        finally:
            subscription.close()

    async def _live(
        self, subscription: Subscription, heartbeat: float | None
    ) -> AsyncIterator[list[LogEvent] | Heartbeat]:
        queue = subscription.queue
        ticker = _Ticker(subscription, heartbeat) if heartbeat is not None else None
        try:
            while True:
                event = await queue.get()
                batch: list[LogEvent] = []
                while True:
                    if subscription.closed:
                        if batch:
                            yield batch
                        return
                    if subscription.lagging:
                        subscription.lagging = False
                        subscription.drain()
                        log.info("stream subscriber fell behind; resyncing from the table")
                        if batch:
                            yield batch
                            batch = []
                        async for page in self._replay():
                            yield page
                        break
                    if event is not None and event.id > self.last_id:
                        self.last_id = event.id
                        batch.append(event)
                    if queue.empty():
                        break
                    event = queue.get_nowait()
                if batch:
                    if ticker is not None:
                        ticker.quiet = ticker.due = False
                    yield batch
                elif ticker is not None and ticker.due:
                    ticker.due = False
                    yield HEARTBEAT
        finally:
            if ticker is not None:
                ticker.cancel()

    async def _replay(self) -> AsyncIterator[list[LogEvent]]:
        while True:
            async with self.reads.connection(primary=True) as connection:
                rows = await TransactionRows(connection).page_after(
                    self.last_id, REPLAY_PAGE, descending=False
                )
            if rows:
                self.last_id = rows[-1]["id"]
                yield [event_from_row(row) for row in rows]
            if len(rows) < REPLAY_PAGE:
                return

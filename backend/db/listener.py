"""The process's one LISTEN connection: it feeds the event hub and survives reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from stackdeck.backend.db.connections import LISTENER_APPLICATION_NAME

log = logging.getLogger(__name__)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """Holds a dedicated asyncpg connection LISTENing on `channel`.

    `on_payload` gets each notification's payload, in commit order. `on_reconnect` runs
    after every (re)connection, once LISTEN is in place, so the caller can fill the gap
    from the table without missing anything that commits meanwhile.
    """

    def __init__(
        self,
        url: str,
        channel: str,
        on_payload: Callable[[str], None],
        on_reconnect: Callable[[], None],
        check_interval: float = 2.0,
        also: Mapping[str, Callable[[str], None]] | None = None,
    ) -> None:
        self._dsn = asyncpg_dsn(url)
        # Every channel on the one connection; `also` are those that need no gap filled.
        self._channels = {channel: on_payload, **(also or {})}
        self._on_reconnect = on_reconnect
        self._check_interval = check_interval
        self._task: asyncio.Task[None] | None = None
        self._connection: asyncpg.Connection | None = None
        self.connected = asyncio.Event()
        self.connections_made = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stackdeck-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close()

    @property
    def backend_pid(self) -> int | None:
        return self._connection.get_server_pid() if self._connection else None

    async def _run(self) -> None:
        delay = 0.1
        while True:
            lost = asyncio.Event()
            try:
                self._connection = await asyncpg.connect(
                    self._dsn,
                    timeout=5,
                    server_settings={"application_name": LISTENER_APPLICATION_NAME},
                )
                self._connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
                for channel in self._channels:
                    await self._connection.add_listener(channel, self._notified)
                self.connections_made += 1
                self.connected.set()
                self._on_reconnect()
                delay = 0.1
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), self._check_interval)
                    if not lost.is_set():
                        # A silent network drop is only noticed by using the connection.
                        await self._connection.execute("SELECT 1", timeout=5)
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
            self.connected.clear()
            await self._close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._channels[channel](payload)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 2)

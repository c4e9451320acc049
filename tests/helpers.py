"""Small test helpers: polling with a deadline, free ports, reading Server-Timing."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], within: float = 10.0, interval: float = 0.05
) -> None:
    """Poll `check` until it is true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(interval)


def statements(response: httpx.Response) -> int:
    match = re.search(r'desc="(\d+) statements"', response.headers["server-timing"])
    assert match, response.headers["server-timing"]
    return int(match.group(1))

"""Small test helpers: polling with a deadline, free ports, reading Server-Timing."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI


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


API = "http://127.0.0.1/api/v1"


@asynccontextmanager
async def asgi_client(app: FastAPI, base_url: str = API) -> AsyncIterator[httpx.AsyncClient]:
    """A client that calls the app in-process; the app's lifespan must be running."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


@asynccontextmanager
async def uvicorn_serving(app: FastAPI) -> AsyncIterator[str]:
    """The app under a real uvicorn on a free loopback port, in this event loop; its URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or task.done(), within=30)
        if task.done():
            task.result()  # the lifespan failed: raise what it raised
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # open SSE streams would otherwise hold the shutdown
        await asyncio.wait_for(task, 30)


@asynccontextmanager
async def serving(app: FastAPI, base_url: str = API) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan run, and an in-process client for it."""
    async with LifespanManager(app), asgi_client(app, base_url) as client:
        yield client


# Headers of the exchange rather than of the answer: any two requests differ in them. The
# commit LSN is the primary's position when this answer was given; a replay's is later.
PER_REQUEST_HEADERS = frozenset(
    {"date", "x-request-id", "server-timing", "idempotent-replayed", "x-stackdeck-commit-lsn"}
)


def answer_of(
    status: int, content: bytes, headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """What a write answered, to compare a replay with the first attempt byte for byte."""
    kept = {k.lower(): v for k, v in headers.items() if k.lower() not in PER_REQUEST_HEADERS}
    return status, content, kept

"""Two backend processes under steady mixed load; one is killed outright, and nothing breaks."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.processes import backend_process, two_backends
from tests.soak import soak
from tests.test_transactions import count, log_rows


async def consistent(database_url: str) -> None:
    """Nothing partial: each user has its committed log row and each such row its user."""
    rows = await log_rows(database_url)
    created = [r for r in rows if r["operation"] == "users.create" and r["outcome"] == "committed"]
    assert len(created) == await count(database_url, "users")


async def test_a_killed_backend_leaves_the_other_serving_and_nothing_partial(
    database_url: str, tmp_path: Path
) -> None:
    async with two_backends(database_url, tmp_path) as ((doomed, a), (_, b)):
        numbers = itertools.count()

        async def write(client: httpx.AsyncClient) -> int | str:
            n = next(numbers)
            try:
                response = await client.post("/users", json={"name": "U", "email": f"{n}@x.io"})
            except httpx.TransportError as exc:
                return type(exc).__name__
            return response.status_code

        async def load(client: httpx.AsyncClient, seconds: float) -> list[int | str]:
            results, stop = [], time.monotonic() + seconds
            while time.monotonic() < stop:
                results += await asyncio.gather(*(write(client) for _ in range(8)))
            return results

        on_doomed = asyncio.create_task(load(a, 3))
        on_steady = asyncio.create_task(load(b, 3))
        await asyncio.sleep(1)
        doomed.process.send_signal(signal.SIGKILL)
        steady_results = await on_steady
        doomed_results = await on_doomed
    assert set(steady_results) == {201}, Counter(steady_results)
    assert any(isinstance(r, str) for r in doomed_results)  # it did die mid-load
    await consistent(database_url)
    env = {"STACKDECK_DATABASE_URL": database_url}
    with backend_process(tmp_path, env=env) as restarted:
        async with httpx.AsyncClient(base_url=f"{restarted.url}/api/v1") as client:
            response = await client.post("/users", json={"name": "R", "email": "r@x.io"})
        assert response.status_code == 201
    await consistent(database_url)


@pytest.mark.parametrize(
    "seconds", [10, pytest.param(60, marks=pytest.mark.slow)], ids=["10s", "60s"]
)
async def test_soak_mixed_load_on_two_backends_agrees_exactly_and_does_not_grow(
    database_url: str, tmp_path: Path, seconds: int
) -> None:
    result = await soak(database_url, tmp_path, seconds)
    assert result.statuses[201] and result.statuses[409] and result.statuses[200]
    assert not result.disagreements(), result.disagreements()
    assert result.rss_growth <= 1.2, (result.rss_warm, result.rss_final)

"""The console's client retries a write whose answer was lost, with the same Idempotency-Key."""

from __future__ import annotations

import asyncio

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.client import ApiClient, BackendUnreachable
from tests.faults import table_locked
from tests.helpers import eventually
from tests.test_transactions import count, log_rows


async def test_a_timed_out_create_is_retried_and_written_once(
    backend: BackendThread, database_url: str
) -> None:
    client = ApiClient(backend.url, timeout=0.5, write_attempts=4)
    try:
        async with table_locked(database_url):
            # The first attempt waits on the lock until the client gives up on it; the
            # server goes on running it.
            create = asyncio.create_task(client.create_user("Ada", "ada@example.com"))
            await eventually(lambda: any(r.status == 0 for r in client.log), within=10)
        created = await asyncio.wait_for(create, 30)
    finally:
        await client.aclose()
    assert created["email"] == "ada@example.com"
    attempts = [r for r in client.log if r.method == "POST"]
    assert len(attempts) >= 2 and attempts[-1].status == 201
    # Written once: the retry learned the first attempt's outcome instead of a 409.
    assert await count(database_url, "users") == 1
    outcomes = [r["outcome"] for r in await log_rows(database_url)]
    assert outcomes == ["committed"]


async def test_a_create_gives_up_after_its_attempts_with_a_clear_error(
    backend: BackendThread, database_url: str
) -> None:
    client = ApiClient(backend.url, timeout=0.3, write_attempts=2)
    try:
        async with table_locked(database_url):
            try:
                await client.create_user("Bo", "bo@example.com")
            except BackendUnreachable as error:
                assert "Timeout" in error.message
            else:
                raise AssertionError("a create that never got an answer reported success")
        assert len([r for r in client.log if r.method == "POST"]) == 2
    finally:
        await client.aclose()

    # The abandoned attempts ran on once the lock went: one user, never two.
    async def written() -> bool:
        return await count(database_url, "users") > 0

    await eventually(written, within=10)
    assert await count(database_url, "users") == 1


async def test_a_migration_run_is_never_sent_twice(
    backend: BackendThread, database_url: str
) -> None:
    # The downgrade waits on the lock for as long as it is held, so any timeout outlasts it;
    # a short one also failed the plain reads around it on a loaded machine.
    client = ApiClient(backend.url, timeout=3.0, write_attempts=4)
    try:
        before = await client.migrations()
        async with table_locked(database_url, "posts"):  # the downgrade waits on it
            try:
                await client.downgrade("-1")
            except BackendUnreachable:
                pass
            else:
                raise AssertionError("the downgrade should have outlasted the client's timeout")
        assert len([r for r in client.log if r.path.startswith("/migrations/")]) == 1

        async def finished() -> bool:
            return bool((await client.migrations())["current"] != before["current"])

        await eventually(finished, within=20)
        after = await client.migrations()
    finally:
        await client.aclose()
    assert after["pending"] == 1  # one step down, not two

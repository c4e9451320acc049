"""Snapshots of the main screen (pytest-textual-snapshot): empty database, data loaded, and a
transaction's X-ray diff.

Made deterministic: rows are inserted with fixed timestamps (straight into the database, so
the transaction log stays empty), the header's URLs are fixed labels, the status bar's timing
is replaced, the X-ray's measured times and durations are replaced, and the time zone is UTC.
Update with `pytest --snapshot-update` and look at the SVGs before committing them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
from textual.pilot import Pilot

from stackdeck.backend.launcher import BackendThread
from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.screens.migration import MigrationScreen
from stackdeck.tui.screens.xray import TransactionScreen
from stackdeck.tui.widgets.status_bar import StatusBar
from tests.helpers import eventually
from tests.pg import asyncpg_dsn
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, tx_lines, until

LABELS = {"api_label": "http://127.0.0.1:PORT/api/v1", "database_label": "postgresql://…/test"}


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def insert_fixed_rows(database_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for n in range(1, 31):
            user_id = await conn.fetchval(
                "INSERT INTO users (name, email, created_at, updated_at) "
                "VALUES ($1, $2, '2026-01-02 03:04:05+00', '2026-01-02 03:04:05+00') RETURNING id",
                f"User {n:02d}",
                f"user{n:02d}@example.com",
            )
            for k in range(n % 3):
                await conn.execute(
                    "INSERT INTO posts (user_id, title, body, created_at) "
                    "VALUES ($1, $2, $3, '2026-01-03 04:05:06+00')",
                    user_id,
                    f"Post {k + 1} by user {n:02d}",
                    "Lorem ipsum dolor sit amet.",
                )
    finally:
        await conn.close()


def settle(ready: object) -> object:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, StackdeckApp)

        async def done() -> bool:
            await pilot.pause()
            return loads_idle(app) and bool(ready(app))  # type: ignore[operator]

        await eventually(done, within=15)
        # Background retries would keep changing the status line: stop listening, then fix it.
        app.client.listeners.clear()
        app.query_one(StatusBar).update("GET /users 200 · 1 ms · 2 SQL statements")
        await pilot.pause()

    return run_before


def test_snapshot_unmigrated_database(empty_backend: BackendThread, snap_compare: object) -> None:
    app = make_console(empty_backend, **LABELS)
    ready = settle(
        lambda a: (
            a.users.message.display
            and a.transactions.message.display
            and a.migrations.state is not None
            and a.schema_state.startswith("not migrated")
        )
    )
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)  # type: ignore[operator]


def test_snapshot_data_loaded(
    backend: BackendThread, database_url: str, snap_compare: object
) -> None:
    asyncio.run(insert_fixed_rows(database_url))
    app = make_console(backend, **LABELS)
    ready = settle(
        lambda a: (
            a.users.total == 30
            and a.posts.user is not None
            and a.transactions.connected
            and a.migrations.state is not None
            and a.schema_state == "at head"
        )
    )
    assert snap_compare(app, terminal_size=SIZE, run_before=ready)  # type: ignore[operator]


def test_snapshot_migration_confirmation(
    empty_backend: BackendThread, snap_compare: object
) -> None:
    app = make_console(empty_backend, **LABELS)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(lambda a: a.migrations.state is not None and a.schema_state != "?")(pilot)  # type: ignore[operator]
        await pilot.press("m")

        async def confirming() -> bool:
            await pilot.pause()
            return isinstance(app.screen, MigrationScreen)

        await eventually(confirming, within=15)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]


def test_snapshot_users_sorted_and_filtered(
    backend: BackendThread, database_url: str, snap_compare: object
) -> None:
    """The users pane sorted by posts, most first, and filtered: the header's arrow, the
    title's sort and filters, the count of the matching users."""
    asyncio.run(insert_fixed_rows(database_url))
    app = make_console(backend, **LABELS)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(lambda a: a.users.total == 30 and a.migrations.state is not None)(pilot)  # type: ignore[operator]
        await pilot.press("right", "right", "right", "s", "s")  # posts: ascending, descending
        app.users.filters = {"posts_min": "1", "email": "user1"}
        app.users.load("first")
        await settle(lambda a: a.users.total == 7 and a.users.sort == ("post_count", True))(pilot)  # type: ignore[operator]

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]


def test_snapshot_transaction_diff(
    backend: BackendThread, database_url: str, snap_compare: object
) -> None:
    """A real update's X-ray: its statements and the changed columns, before and after. The
    times and durations the backend measured are replaced by fixed ones."""
    asyncio.run(insert_fixed_rows(database_url))
    app = make_console(backend, **LABELS)

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(lambda a: a.users.total == 30 and a.transactions.connected)(pilot)  # type: ignore[operator]
        await app.client.update_user(1, name="Ada Lovelace", email="ada@example.com")
        app.client.listeners.clear()
        await until(pilot, lambda: "users.update" in "".join(tx_lines(app)), within=15)
        app.transactions.log_view.focus()
        await pilot.press("end", "enter")
        await until(
            pilot,
            lambda: isinstance(app.screen, TransactionScreen) and app.screen.detail is not None,
        )
        screen = app.screen
        assert isinstance(screen, TransactionScreen) and screen.detail is not None
        detail = screen.detail
        fixed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        for statement in detail.statements or []:
            statement.duration_ms = 0.5
        for change in detail.changes or []:
            if change.after and "updated_at" in change.after:  # now(); `before` is fixed
                change.after["updated_at"] = "2026-02-03T04:05:06+00:00"
        screen.show(detail.model_copy(update={"occurred_at": fixed, "duration_ms": 2.0}))
        # The pane behind the screen shows the outcome's time and duration too.
        for item in app.transactions.shown:
            item.update(occurred_at=fixed.isoformat(), duration_ms=2.0)
        app.transactions._rewrite()
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)  # type: ignore[operator]

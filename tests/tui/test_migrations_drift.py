"""The migrations pane marks applied revisions and warns when the database drifts."""

from __future__ import annotations

import asyncpg

from stackdeck.backend.launcher import BackendThread
from tests.pg import asyncpg_dsn
from tests.tui.conftest import SIZE, make_console
from tests.tui.helpers import loads_idle, until


async def test_history_marks_applied_revisions_and_drift_is_shown(
    backend: BackendThread, database_url: str
) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # A column no model knows: what a hand-made change in production looks like.
        await conn.execute("ALTER TABLE users ADD COLUMN nickname text")
    finally:
        await conn.close()
    app = make_console(backend)
    async with app.run_test(size=SIZE) as pilot:
        migrations = app.migrations
        await until(pilot, lambda: loads_idle(app) and migrations.state is not None)
        state = migrations.state
        assert state is not None and state["at_head"]
        drift = migrations.query_one("#mig-drift")
        assert drift.display
        text = str(drift.render())
        assert "drift" in text and "users.nickname" in text
        rows = [migrations.table.get_row(key) for key in migrations.table.rows]
        assert len(rows) == len(state["history"])
        marks = [str(row[0]) for row in rows]
        assert marks.count("●") == 1  # the current revision
        assert all(mark in ("●", "✔") for mark in marks)  # at head: every one applied

"""Waiting on the console: poll widget state with a deadline, never a fixed sleep."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from stackdeck.tui.app import StackdeckApp
from stackdeck.tui.client import User
from stackdeck.tui.screens.migration import MigrationScreen
from tests.helpers import eventually


async def until(pilot: Pilot[None], check: Callable[[], bool], within: float = 10.0) -> None:
    """Let the app run until `check()` holds (the stream worker never completes, so
    `workers.wait_for_complete()` cannot be the signal)."""

    async def settled() -> bool:
        await pilot.pause()
        return check()

    try:
        await eventually(settled, within=within)
    except AssertionError:
        running = [f"{w.group}:{w.name}:{w.state.name}" for w in pilot.app.workers]
        app = pilot.app
        log = list(app.client.log)[-6:] if isinstance(app, StackdeckApp) else []
        calls = [f"{r.method} {r.path} {r.status} {r.latency_ms:.0f}ms" for r in log]
        raise AssertionError(
            f"not met within {within}s; workers: {running}; last calls: {calls}"
        ) from None


async def open_migration(pilot: Pilot[None], app: StackdeckApp, key: str) -> MigrationScreen:
    """Press `m` or `d` and wait for its confirmation screen."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, MigrationScreen))
    screen = app.screen
    assert isinstance(screen, MigrationScreen)
    return screen


async def confirm_migration(pilot: Pilot[None], screen: MigrationScreen) -> dict[str, Any]:
    """Confirm the run and wait for its outcome."""
    await pilot.press("y")
    await until(pilot, lambda: screen.phase == "done", within=30)
    assert screen.outcome is not None
    return screen.outcome


def loads_idle(app: StackdeckApp) -> bool:
    """No pane is fetching: every worker but the live stream has finished."""
    return all(
        worker.is_finished or worker.group == "tx-stream" or worker.group == "recover"
        for worker in app.workers
    )


def user_rows(app: StackdeckApp) -> list[User]:
    return list(app.users.window.rows)


def screen_text(app: App[Any]) -> str:
    """The text the terminal shows now (the screen and any modal over it), tags stripped."""
    svg = app.export_screenshot(simplify=True)
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


def tx_lines(app: StackdeckApp) -> list[str]:
    """The transactions pane's lines as drawn, oldest first."""
    return [strip.text for strip in app.transactions.log_view.lines]

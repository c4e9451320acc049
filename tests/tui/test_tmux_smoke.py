"""A real terminal: tmux runs `stackdeck` (embedded PostgreSQL in a temporary data dir)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.embedded import assert_released, embedded_data_dir
from tests.tmux import Tmux, clean_env, tmux_session

STACKDECK = Path(sys.executable).parent / "stackdeck"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    with tmux_session() as session:
        yield session


@pytest.fixture
def fresh_data_dir() -> Iterator[Path]:
    """A data dir never used (a new user's); no PostgreSQL for it outlives the test."""
    with embedded_data_dir() as path:
        yield path


def test_stackdeck_in_tmux_shows_the_panes_and_quits_cleanly(
    tmux: Tmux, fresh_data_dir: Path
) -> None:
    data_dir = fresh_data_dir
    tmux.start(str(STACKDECK), data_dir.parent, clean_env(STACKDECK_DATA_DIR=str(data_dir)))
    panes = ("Users", "Posts", "Transactions", "Migrations")
    # Waited for whole: a capture can land between two partial redraws of the screen.
    screen = tmux.wait_for(lambda s: all(p in s for p in panes) and "schema not migrated" in s)
    assert "127.0.0.1" in screen and "***" in screen  # backend URL, masked database URL
    tmux.send("?")
    tmux.wait_for(lambda s: "command palette" in s)
    tmux.send("Escape")
    # Wait for the help to close: a key right after ESC would be read as alt+key.
    tmux.wait_for(lambda s: "command palette" not in s and "Migrations" in s)
    tmux.send("l")
    tmux.wait_for(lambda s: "Request log" in s and "/users" in s)
    tmux.send("Escape")
    tmux.wait_for(lambda s: "Request log" not in s and "Migrations" in s)
    tmux.send("q")
    tmux.wait_for(lambda s: "exit=0" in s, within=30)
    assert_released(data_dir / "pgdata")

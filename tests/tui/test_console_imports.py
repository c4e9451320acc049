"""What the console imports before its first page is on screen, in a real terminal: the
backend runs in a child process, so none of its libraries load in the console's, and with
--api-url nothing of the backend does at all."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackdeck.backend.launcher import BackendThread
from tests.tmux import Tmux, clean_env, tmux_session

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# The backend's libraries: the console's first frame needs none of them.
BACKEND_LIBRARIES = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "asyncpg", "alembic")
# What --api-url may load of the backend: the command line and the ways out.
COMMAND_LINE = {"", ".cli", ".cli_migrate", ".errors", ".exits"}

# The real `stackdeck`, noting its modules once the first page is on screen.
CONSOLE = textwrap.dedent(
    """
    import json, sys
    from stackdeck.backend import cli
    collect = cli._collect_after_launch
    def note_modules():
        with open(sys.argv[1], "w") as out:
            json.dump(sorted(sys.modules), out)
        collect()
    cli._collect_after_launch = note_modules
    sys.exit(cli.main(sys.argv[2:]))
    """
)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    with tmux_session() as session:
        yield session


def modules_at_first_page(
    tmux: Tmux, tmp_path: Path, *argv: str, shows: str = "Migrations", **env: str
) -> list[str]:
    script, noted = tmp_path / "console.py", tmp_path / "modules.json"
    script.write_text(CONSOLE)
    tmux.start(
        shlex.join([sys.executable, str(script), str(noted), *argv]),
        tmp_path,
        clean_env(STACKDECK_DATA_DIR=str(tmp_path / "data"), **env),
    )
    tmux.wait_for(lambda s: "Migrations" in s and shows in s and noted.exists())
    tmux.send("q")
    tmux.wait_for(lambda s: "exit=0" in s, within=30)
    modules: list[str] = json.loads(noted.read_text())
    return modules


def loaded(modules: list[str], libraries: tuple[str, ...]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in libraries]


def test_the_embedded_console_loads_no_backend_library(
    tmux: Tmux, tmp_path: Path, database_url: str
) -> None:
    # On --database-url: the child is handed it, and the header names that database.
    database = database_url.rsplit("/", 1)[1].split("?")[0]
    modules = modules_at_first_page(
        tmux, tmp_path, "--database-url", database_url, shows=f"/{database}"
    )
    assert "stackdeck.tui.app" in modules  # noted by the console, at its first page
    assert loaded(modules, BACKEND_LIBRARIES) == []


def test_with_api_url_nothing_of_the_backend_is_imported(
    tmux: Tmux, tmp_path: Path, backend: BackendThread
) -> None:
    modules = modules_at_first_page(tmux, tmp_path, "--api-url", backend.root_url)
    assert "stackdeck.tui.app" in modules
    assert loaded(modules, (*BACKEND_LIBRARIES, "pydantic_settings")) == []
    ours = {
        m.removeprefix("stackdeck.backend") for m in modules if m.startswith("stackdeck.backend")
    }
    assert ours <= COMMAND_LINE, ours - COMMAND_LINE
    # Pydantic builds the X-ray's records when the X-ray is first opened, and the config
    # file's schema when there is a file: a launch without one loads none of it.
    assert "stackdeck.tui.xray_records" not in modules
    assert loaded(modules, ("pydantic", "pydantic_core")) == []


def test_the_command_line_starts_the_backend_before_asyncio_loads() -> None:
    """`stackdeck` spawns the console's backend as soon as it has read its options and
    config: what it imports first, the backend's start waits for. asyncio was about half of
    it (40 of 80 ms, measured); the console loads it after the spawn, as the backend does."""
    probe = "import sys; from stackdeck.backend import backend_process, cli; "
    probe += "print('asyncio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

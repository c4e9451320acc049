"""The embedded PostgreSQL through the real CLI: shared between processes, data kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import platformdirs
import pytest

from stackdeck.backend.settings import default_data_dir
from tests.processes import REPO_ROOT, backend_process


def alembic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_serve_on_embedded_postgres_keeps_data_between_runs(
    tmp_path: Path, pg_data_dir: Path
) -> None:
    data_dir = pg_data_dir / "data"
    env = {"STACKDECK_DATA_DIR": str(data_dir)}
    env_without_url = {k: v for k, v in os.environ.items() if k != "STACKDECK_DATABASE_URL"}
    os.environ.pop("STACKDECK_DATABASE_URL", None)
    with backend_process(tmp_path, env=env) as backend:
        # A second process (alembic) on the same data dir shares the running server.
        migrated = alembic("upgrade", "head", env=env_without_url | env)
        assert migrated.returncode == 0, migrated.stderr
        created = httpx.post(
            f"{backend.url}/api/v1/users", json={"name": "Ada", "email": "ada@example.com"}
        )
        assert created.status_code == 201, created.text
        assert "database postgresql+asyncpg://" in backend.log()
    assert backend.process.returncode == 0
    assert (data_dir / "pgdata" / "PG_VERSION").exists()

    with backend_process(tmp_path, env=env) as again:
        users = httpx.get(f"{again.url}/api/v1/users").json()["items"]
        assert [u["email"] for u in users] == ["ada@example.com"]


def serve_refused(data_dir: Path) -> str:
    """`stackdeck serve` on the embedded PostgreSQL in `data_dir`, which must refuse it in
    one line: exit 2, no traceback. Its stderr."""
    env = {k: v for k, v in os.environ.items() if k != "STACKDECK_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "stackdeck.backend.cli", "serve", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    return result.stderr


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("I am a file")
    assert f"cannot use data dir {not_a_dir}" in serve_refused(not_a_dir)


# In a fresh interpreter: what the start imports, and where its URL leads.
START_ALONE = """
import asyncio, sys
from pathlib import Path
from stackdeck.backend.db.embedded import EmbeddedPostgres

server = EmbeddedPostgres(Path(sys.argv[1]))
url = server.start()
try:
    print(sorted(name for name in sys.modules if name.partition(".")[0] == "sqlalchemy"))
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    async def where() -> str:
        conn = await asyncpg.connect(
            host=parsed.query["host"], user=parsed.username, database=parsed.database
        )
        try:
            return await conn.fetchval("SELECT current_database()")
        finally:
            await conn.close()
    print(parsed.drivername, asyncio.run(where()))
finally:
    server.stop()
"""


def test_the_start_imports_no_sqlalchemy_and_its_url_reaches_the_server(
    pg_data_dir: Path,
) -> None:
    """PostgreSQL starts on a thread while the main thread imports the app, SQLAlchemy with
    it; two threads importing one package at once can leave one of them a half-built module
    (an ImportError that stopped a launch now and then), so the start imports none of it.
    Its URL still leads to the server from a data dir whose path needs quoting. (pgserver
    itself cannot start one whose path holds a space.)"""
    # "+" is a space to a query string unless quoted; a letter of any script is no shell's
    # business (the check that refuses shell characters must let it through).
    data_dir = pg_data_dir / "données+dir"
    result = subprocess.run(
        [sys.executable, "-c", START_ALONE, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    imported, reached = result.stdout.splitlines()
    assert imported == "[]"
    assert reached == "postgresql+asyncpg stackdeck"


def test_a_data_dir_a_shell_would_misread_is_a_clear_error(tmp_path: Path) -> None:
    """pg_ctl starts PostgreSQL through a shell, with the socket dir (the data dir) unquoted:
    such a path would fail with nothing but pg_ctl's exit status, so it is refused first."""
    spaced = tmp_path / "Application Support"
    said = serve_refused(spaced)
    assert f"cannot use data dir {spaced}: the embedded PostgreSQL cannot start" in said
    assert not spaced.exists()  # refused before anything is made there


def test_the_default_data_dir_is_one_postgresql_can_start_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # platformdirs' answer on macOS, where the default would otherwise never start.
    mac = tmp_path / "Library" / "Application Support" / "stackdeck"
    monkeypatch.setattr(platformdirs, "user_data_path", lambda name: mac)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / ".local" / "share" / "stackdeck"
    linux = tmp_path / ".local" / "share" / "stackdeck"
    monkeypatch.setattr(platformdirs, "user_data_path", lambda name: linux)
    assert default_data_dir() == linux

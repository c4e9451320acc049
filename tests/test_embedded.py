"""The embedded PostgreSQL through the real CLI: shared between processes, data kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

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


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("I am a file")
    env = {k: v for k, v in os.environ.items() if k != "STACKDECK_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "stackdeck.backend.cli", "serve", "--data-dir", str(not_a_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"cannot use data dir {not_a_dir}" in result.stderr

"""Configuration: URL normalisation, refused drivers, masked passwords, .env and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from stackdeck.backend.settings import ConfigError, Settings, mask_url, normalize_database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql+asyncpg://u:p@db:5432/app"),
        ("postgres://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgresql+asyncpg://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgresql:///app?host=/run/pg", "postgresql+asyncpg:///app?host=%2Frun%2Fpg"),
    ],
)
def test_postgres_urls_become_asyncpg(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected


@pytest.mark.parametrize("driver", ["psycopg2", "pg8000", "psycopg"])
def test_sync_drivers_are_refused_naming_the_fix(driver: str) -> None:
    with pytest.raises(ConfigError, match=r"sync driver .* use postgresql\+asyncpg"):
        normalize_database_url(f"postgresql+{driver}://u:p@db/app")


@pytest.mark.parametrize("url", ["mysql://u:p@db/app", "sqlite:///x.db", "not a url"])
def test_other_databases_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        normalize_database_url(url)


def test_masked_url_hides_the_password() -> None:
    masked = mask_url("postgresql+asyncpg://stack:hunter2@db:5432/app")
    assert "hunter2" not in masked and masked == "postgresql+asyncpg://stack:***@db:5432/app"


def test_settings_read_environment_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "STACKDECK_DATABASE_URL=postgres://u:pw@db/app\nSTACKDECK_POOL_SIZE=7\n"
    )
    monkeypatch.setenv("STACKDECK_PORT", "9123")
    settings = Settings()
    assert settings.database_url_value() == "postgresql+asyncpg://u:pw@db/app"
    assert settings.pool_size == 7 and settings.port == 9123
    assert settings.host == "127.0.0.1"
    assert "pw" not in repr(settings)


def test_settings_refuse_a_sync_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKDECK_DATABASE_URL", "postgresql+psycopg2://u:pw@db/app")
    with pytest.raises(ValidationError, match="sync driver"):
        Settings(_env_file=None)


def test_the_direct_url_is_normalised_and_named_in_its_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STACKDECK_DATABASE_URL", "postgres://u:pw@bouncer:6432/app")
    monkeypatch.setenv("STACKDECK_DIRECT_DATABASE_URL", "postgres://u:pw@primary/app")
    settings = Settings(_env_file=None)
    assert settings.direct_database_url_value() == "postgresql+asyncpg://u:pw@primary/app"
    monkeypatch.setenv("STACKDECK_DIRECT_DATABASE_URL", "postgresql+psycopg2://u:pw@db/app")
    with pytest.raises(ValidationError, match="STACKDECK_DIRECT_DATABASE_URL uses the sync"):
        Settings(_env_file=None)


def test_without_a_direct_url_sessions_use_the_database_url() -> None:
    settings = Settings(_env_file=None, database_url="postgres://u:pw@db/app")
    assert settings.direct_database_url_value() == "postgresql+asyncpg://u:pw@db/app"


def test_an_unknown_pool_mode_is_refused_naming_the_choices() -> None:
    with pytest.raises(ValidationError, match="'session' or 'transaction'"):
        Settings(_env_file=None, pool_mode="statement")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stackdeck.backend.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_cli_refuses_a_sync_driver_in_one_line_without_the_password() -> None:
    result = run_cli(
        "serve", env={"STACKDECK_DATABASE_URL": "postgresql+psycopg2://u:topsecret@db/app"}
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "postgresql+asyncpg" in lines[0]
    assert "Traceback" not in result.stderr and "topsecret" not in result.stderr


def test_cli_help_explains_every_serve_option() -> None:
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--database-url", "--data-dir"):
        assert option in result.stdout


def test_the_read_database_url_is_normalised_and_refused_like_the_database_url() -> None:
    settings = Settings(_env_file=None, read_database_url="postgres://u:p@standby/app")
    assert settings.read_database_url_value() == "postgresql+asyncpg://u:p@standby/app"
    assert "p@standby" not in repr(settings)
    with pytest.raises(ValidationError, match=r"STACKDECK_READ_DATABASE_URL uses the sync driver"):
        Settings(_env_file=None, read_database_url="postgresql+psycopg2://u:p@standby/app")


def test_the_embedded_backends_settings_import_no_sqlalchemy(tmp_path: Path) -> None:
    # The console's backend process starts PostgreSQL as soon as it has its settings, while
    # the app's modules (SQLAlchemy among them) import: settings without a URL parse none.
    script = (
        "import sys\n"
        "from stackdeck.backend.launcher import BackendThread\n"
        "from stackdeck.backend.settings import Settings\n"
        f"Settings(_env_file=None, data_dir={str(tmp_path)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKDECK_")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "[]"

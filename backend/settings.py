"""Configuration from the environment (STACKDECK_*) and .env, validated once at start-up."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# SQLAlchemy (a tenth of a second) is imported where a URL is parsed: the console's embedded
# backend builds Settings without one and starts PostgreSQL before the app's imports.

MAX_WORKERS = 64
_SYNC_DRIVERS = {"psycopg2", "pg8000", "psycopg", "psycopg2cffi", "pygresql", "py-postgresql"}


class ConfigError(ValueError):
    """A setting that cannot work; its message is one line that names the fix."""


# What a POSIX shell would not read as part of a word (besides whitespace).
_SHELL_SPECIAL = frozenset("'\"\\`$&|;<>()*?[]{}#~!")


def shell_safe(path: Path) -> bool:
    """A path a shell reads as written (no whitespace, quote or other shell character; any
    letter, of any script, is fine): the only kind the embedded PostgreSQL can start in on
    a POSIX system (db/embedded.py). Windows starts it without a shell."""
    if sys.platform == "win32":
        return True
    return not any(char.isspace() or char in _SHELL_SPECIAL for char in str(path))


def default_data_dir() -> Path:
    """The platform's data dir for stackdeck, unless a shell would misread its path (macOS's
    "Application Support" has a space): ~/.local/share/stackdeck then, as on Linux."""
    path = platformdirs.user_data_path("stackdeck")
    return path if shell_safe(path) else Path.home() / ".local" / "share" / "stackdeck"


def normalize_database_url(url: str, setting: str = "STACKDECK_DATABASE_URL") -> str:
    """Return the URL with the asyncpg driver; refuse sync drivers and other databases."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"{setting} is not a database URL; use postgresql://user:password@host:5432/dbname"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in ("postgresql", "postgres"):
        raise ConfigError(
            f"{setting} must point at PostgreSQL, not {backend!r}; "
            "use postgresql://user:password@host:5432/dbname"
        )
    if driver and driver != "asyncpg":
        if driver in _SYNC_DRIVERS:
            raise ConfigError(
                f"{setting} uses the sync driver {driver!r}, which would block "
                "the event loop; use postgresql+asyncpg://… (or plain postgresql://)"
            )
        raise ConfigError(
            f"{setting} uses the unknown driver {driver!r}; "
            "use postgresql+asyncpg://… (or plain postgresql://)"
        )
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def mask_url(url: str) -> str:
    """The URL as it may be printed or logged: the password replaced by ***."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class Settings(BaseSettings):
    """Everything the backend can be told; one instance builds one app."""

    model_config = SettingsConfigDict(
        env_prefix="STACKDECK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL; unset means the embedded PostgreSQL in data_dir",
    )
    direct_database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL with a session of its own (not a transaction pooler), for "
        "LISTEN and the bulk seed; unset means database_url",
    )
    pool_mode: Literal["session", "transaction"] = Field(
        default="session",
        description="'transaction' when database_url is a transaction pooler (PgBouncer in "
        "transaction mode, RDS Proxy, Supavisor): no state outlives a transaction",
    )
    read_database_url: SecretStr | None = Field(
        default=None,
        description="a streaming standby for reads; unset means reads go to the primary",
    )
    # Past this lag the standby's answers are too old to give: reads go to the primary.
    replica_max_lag_ms: int = Field(default=5_000, ge=0)
    # How long a read with X-Stackdeck-Min-LSN waits for the standby to replay that far
    # before the primary answers it instead.
    replica_wait_ms: int = Field(default=1_000, ge=0)
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="where the embedded PostgreSQL keeps its data",
    )
    host: str = Field(default="127.0.0.1", description="address to bind; loopback by default")
    api_token: SecretStr | None = Field(
        default=None,
        description="bearer token every endpoint but /api/v1/health requires; "
        "needed to bind anything but loopback",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names accepted besides 127.0.0.1, localhost and ::1 (comma-separated)",
    )
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(
        default=1,
        description="`stackdeck serve` processes sharing the port; each has its own pools",
    )
    # Overflow connections are closed as soon as the pool's slots are full again, so under
    # steady load beyond pool_size they are opened and closed over and over (and prepare
    # their statements anew): the default is one fixed pool, ample for two cores.
    pool_size: int = Field(default=10, ge=1, le=200)
    pool_max_overflow: int = Field(default=0, ge=0, le=200)
    # Reads hold a connection for one statement. A read pool smaller than the concurrent
    # requests makes them queue on it, where a newcomer can take a connection before a
    # woken waiter does: under 32 concurrent reads, pool 10 had a p99 3.6 x its median,
    # pool 32 1.4 x (benchmarks, 2 cores). It opens connections only as concurrency needs
    # them and closes those idle for 5 minutes.
    read_pool_size: int = Field(default=32, ge=1, le=200)
    pool_timeout: float = Field(default=5.0, gt=0, description="seconds to wait for a connection")
    statement_timeout_ms: int = Field(default=15_000, ge=0, description="0 disables it")
    connect_timeout: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    xray: bool = Field(
        default=True,
        description="record the SQL behind every request and the rows every write changed "
        "(GET /requests/{id}, GET /transactions/{id}); off: neither is kept",
    )
    stream_queue_size: int = Field(
        default=1000, ge=1, description="events a slow stream subscriber may lag before resync"
    )

    @field_validator("database_url", "direct_database_url", "read_database_url", mode="before")
    @classmethod
    def _normalize_url(cls, value: object, info: ValidationInfo) -> object:
        if value is None or value == "":
            return None
        raw = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return normalize_database_url(raw, f"STACKDECK_{str(info.field_name).upper()}")

    @field_validator("workers")
    @classmethod
    def _sane_workers(cls, value: int) -> int:
        # Each worker opens its own pools: a typo like 100 would exhaust max_connections.
        if not 1 <= value <= MAX_WORKERS:
            raise ConfigError(f"must be from 1 to {MAX_WORKERS}, not {value}")
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip().lower() for h in value.split(",") if h.strip()]
        return value

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_open_bind_without_token(self) -> Settings:
        if not is_loopback(self.host) and self.api_token is None:
            raise ConfigError(
                f"binding {self.host} would expose the API (and its migrations) to the network; "
                "set STACKDECK_API_TOKEN, or bind 127.0.0.1"
            )
        return self

    def database_url_value(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None

    def direct_database_url_value(self) -> str | None:
        """Where a connection must hold a session (LISTEN, COPY): never a transaction pooler."""
        if self.direct_database_url is not None:
            return self.direct_database_url.get_secret_value()
        return self.database_url_value()

    def read_database_url_value(self) -> str | None:
        return self.read_database_url.get_secret_value() if self.read_database_url else None

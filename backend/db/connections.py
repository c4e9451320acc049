"""How every database connection is opened: what the pool mode decides, in one place.

`session` (the default) is a direct connection or a session pooler: a client connection
keeps one server session, so prepared statements are cached by name and the statement
timeout is a session setting. `transaction` is a transaction pooler (PgBouncer in
transaction mode, RDS Proxy, Supavisor): each transaction may run on another server
session, so nothing may outlive a transaction there.

Neither mode sends `statement_timeout` as a startup parameter: PgBouncer refuses the
connection for any parameter it does not track, whatever its pool mode.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from stackdeck.backend.settings import Settings

log = logging.getLogger(__name__)

APPLICATION_NAME = "stackdeck"  # PgBouncer tracks it, so it may be a startup parameter
# The LISTEN connection, told apart in pg_stat_activity from the pools' connections.
LISTENER_APPLICATION_NAME = "stackdeck-listen"

# What a transaction pooler under pool_mode=session looks like from here: a statement
# prepared by name on one server session, then looked for on (or clashing with) another.
LOST_PREPARED_STATEMENT = frozenset({"26000", "42P05"})
POOLER_MISMATCH = (
    "the database is reached through a transaction pooler (prepared statements do not "
    "survive between transactions); set STACKDECK_POOL_MODE=transaction"
)


def session_setup_sql(settings: Settings, *, records_changes: bool = False) -> str | None:
    """What a new session runs once, or None. Under a transaction pooler a session SET would
    land on whichever server session the pooler picked and leak to its next client: there
    the timeout belongs to the role (README, "Deploying") and the X-ray's switch is set per
    transaction (`RECORD_CHANGES`)."""
    if settings.pool_mode == "transaction":
        return None
    sets = []
    if settings.statement_timeout_ms:
        sets.append(f"SET statement_timeout = {int(settings.statement_timeout_ms)}")
    if records_changes:
        sets.append("SET stackdeck.xray = 'on'")
    return "; ".join(sets) or None


# The users' and posts' triggers record changed rows while this is on (migration 0007).
RECORD_CHANGES = "SELECT set_config('stackdeck.xray', 'on', true)"


def asyncpg_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for asyncpg.connect and asyncpg.create_pool."""
    options: dict[str, Any] = {
        "server_settings": {"application_name": APPLICATION_NAME},
        "timeout": settings.connect_timeout,
    }
    if settings.pool_mode == "transaction":
        # No named statement cache: asyncpg then parses each statement unnamed within the
        # one sync of its execution, so it never depends on the next server session.
        options["statement_cache_size"] = 0
    return options


def engine_connect_args(settings: Settings) -> dict[str, Any]:
    """`connect_args` for SQLAlchemy's asyncpg dialect (its documented PgBouncer setup)."""
    args = asyncpg_options(settings)
    if settings.pool_mode == "transaction":
        # The dialect prepares each statement, then runs it, inside its transaction: on the
        # unnamed statement nothing is left behind. A named one is closed only with the
        # connection's next statement, which the pooler may send to another server session:
        # one statement per transaction would pile up on the sessions, and clash by name with
        # another process's (asyncpg numbers them per process).
        args["prepared_statement_cache_size"] = 0
        args["prepared_statement_name_func"] = _unnamed
    return args


def _unnamed() -> str:
    return ""


async def set_up_session(connection: asyncpg.Connection, settings: Settings) -> None:
    sql = session_setup_sql(settings)
    if sql is not None:
        await connection.execute(sql)


class PoolerCheck:
    """The first sign that the connections do not fit the pooler in front of the database:
    kept for /health (a misconfiguration does not mend itself) and logged once."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def note(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            log.error("%s", reason)

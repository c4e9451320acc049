"""`stackdeck migrate …`: the migrations service from a shell, with exit codes scripts can trust.

Exit codes:
  0  done (or, for `status` and `sql`, shown)
  1  the run failed and was rolled back: the schema is where it started
  2  usage or configuration: bad arguments or settings, an unknown target revision
  3  another migration is running (the lock is busy): nothing was done, retry later
  4  the database is unreachable, or the run was interrupted (connection lost, timeout):
     nothing was done, retry later
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from stackdeck.backend import exits
from stackdeck.backend.errors import (
    DomainError,
    InvalidInput,
    MigrationFailed,
    MigrationRunning,
    Unavailable,
)

# The rest is imported by migrate(): `stackdeck` imports this module for its parser, and the
# console's launch should not wait for SQLAlchemy and the migrations service to build one.
if TYPE_CHECKING:
    from pydantic import BaseModel

    from stackdeck.backend.settings import Settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3
EXIT_UNAVAILABLE = 4

EPILOG = """exit codes:
  0  done
  1  the run failed and was rolled back (the schema is where it started)
  2  usage or configuration error, or an unknown target revision
  3  another migration is running: nothing was done
  4  database unreachable or run interrupted: nothing was done"""


def add_migrate_parser(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="show or change the schema's migration state",
        description="Alembic migrations through stackdeck's service: the same advisory lock as "
        "the API, so a run never interleaves with another. Without a database URL it uses "
        "the embedded PostgreSQL.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The options belong to every action, so they may follow it: `migrate upgrade --json`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        help="PostgreSQL URL (default STACKDECK_DATABASE_URL; unset: embedded PostgreSQL)",
    )
    common.add_argument("--data-dir", help="embedded PostgreSQL's data dir")
    common.add_argument("--json", action="store_true", help="print the result as JSON")
    actions = migrate.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(
            name,
            help=help_,
            parents=[common],
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return parser

    action("status", "current and head revisions, history, drift")
    upgrade = action("upgrade", "upgrade to TARGET (default head)")
    upgrade.add_argument("target", nargs="?", default="head", metavar="TARGET")
    downgrade = action("downgrade", "downgrade to TARGET (default -1)")
    downgrade.add_argument("target", nargs="?", default="-1", metavar="TARGET")
    sql = action("sql", "print the SQL a run to TARGET would execute")
    sql.add_argument("target", nargs="?", default="head", metavar="TARGET")
    sql.add_argument("--from", dest="from_rev", help="start revision (default: current)")


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from stackdeck.backend.db.embedded import EmbeddedDatabaseError, database_for

    try:
        with database_for(settings) as resolved:
            return exits.run(_migrate(args, resolved))
    except EmbeddedDatabaseError as exc:
        return _error(str(exc), EXIT_USAGE)


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from stackdeck.backend.db.engine import create_engine
    from stackdeck.backend.db.errors import infrastructure_error
    from stackdeck.backend.services.migrations import MigrationsService

    engine = create_engine(settings.database_url_value() or "", settings)
    service = MigrationsService(engine, lock_timeout_ms=settings.statement_timeout_ms or 15_000)
    try:
        result: BaseModel
        if args.action == "status":
            result = await service.status()
        elif args.action == "upgrade":
            result = await service.upgrade(args.target)
        elif args.action == "downgrade":
            result = await service.downgrade(args.target)
        else:
            result = await service.sql(args.from_rev, args.target)
    except DomainError as exc:
        return _error(exc.detail, _exit_code(exc))
    except Exception as exc:
        translated = infrastructure_error(exc)
        if translated is None:
            raise
        return _error(translated.detail, EXIT_UNAVAILABLE)
    finally:
        await engine.dispose()
    if args.json:
        print(json.dumps(result.model_dump(mode="json", by_alias=True), indent=2))
    else:
        print(_render(result))
    return EXIT_OK


def _exit_code(exc: DomainError) -> int:
    if isinstance(exc, MigrationRunning):
        return EXIT_BUSY
    if isinstance(exc, InvalidInput):
        return EXIT_USAGE
    if isinstance(exc, Unavailable):
        return EXIT_UNAVAILABLE
    if isinstance(exc, MigrationFailed):
        return EXIT_FAILED
    return EXIT_FAILED


def _error(message: str, code: int) -> int:
    print(f"stackdeck: error: {message}", file=sys.stderr)
    return code


def _revs(revisions: list[str]) -> str:
    return ", ".join(revisions) or "base (empty)"


def _render(result: BaseModel) -> str:
    from stackdeck.backend.schemas.migrations import MigrationRun, MigrationSql, MigrationStatus

    if isinstance(result, MigrationStatus):
        lines = [
            f"current: {_revs(result.current)}",
            f"head:    {_revs(result.heads)}",
            "at head" if result.at_head else f"{result.pending} pending",
        ]
        if result.running:
            lines.append("a migration is running now")
        lines.append("")
        for rev in result.history:
            mark = "*" if rev.is_current else ("+" if rev.applied else " ")
            created = rev.created.date().isoformat() if rev.created else ""
            head = " (head)" if rev.is_head else ""
            lines.append(f" {mark} {rev.revision:<28} {created:<10}  {rev.message}{head}")
        if result.drift.detected:
            lines.append("\ndrift: the database differs from the models:")
            lines += [f"  {d}" for d in result.drift.differences]
        return "\n".join(lines)
    if isinstance(result, MigrationRun):
        applied = ", ".join(result.applied) or "nothing to do"
        return (
            f"{result.direction}: {_revs(result.from_)} -> {_revs(result.to)} "
            f"({applied}) in {result.duration_ms:.0f} ms"
        )
    assert isinstance(result, MigrationSql)
    return result.sql.rstrip()

"""Migrations as a feature: status, drift, upgrade/downgrade and SQL preview via Alembic's API.

Alembic is synchronous; it runs on an AsyncConnection through `run_sync`, so its database
I/O awaits asyncpg instead of blocking the event loop. A run is one transaction on one
connection: the advisory lock (`pg_try_advisory_xact_lock`), every revision's DDL, the
version bump and the committed outcome row all live in it. PostgreSQL's transactional DDL
then gives the guarantees the console relies on: a failing revision leaves the schema where
the run started, a run whose connection dies releases the lock, and a second run anywhere
(this process, another backend, the CLI, plain `alembic`) is refused at once, never queued.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from stackdeck.backend.db.errors import infrastructure_error, sqlstate
from stackdeck.backend.db.locks import MIGRATION_LOCK_KEY, lock_is_held_sql
from stackdeck.backend.db.models import Base
from stackdeck.backend.errors import (
    FieldError,
    MigrationFailed,
    MigrationInterrupted,
    MigrationRunning,
    NotFound,
    SchemaNotReady,
    Unavailable,
    UnknownRevision,
)
from stackdeck.backend.metrics import current_metrics, current_request_id
from stackdeck.backend.schemas.migrations import (
    Direction,
    Drift,
    MigrationRun,
    MigrationSql,
    MigrationStatus,
    RevisionRead,
    RevisionSource,
    SchemaState,
)
from stackdeck.backend.services.outcomes import OutcomeRecord, record_outcome

# Alembic (with Mako and Pygments behind it) is imported where it is used, not here: the app
# imports this module at start-up, and the console's first page needs none of it.
if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationInfo
    from alembic.script import Script, ScriptDirectory

log = logging.getLogger(__name__)

# The revisions ship inside the package (stackdeck.migrations), so an installed wheel finds
# them wherever it is run from; the repository's alembic.ini is for the `alembic` command.
SCRIPT_LOCATION = Path(__file__).resolve().parents[2] / "migrations"
BASE = "base"
MAX_DIFFERENCES = 20
_RELATIVE_DOWN = re.compile(r"^-\d+$")
_RELATIVE_UP = re.compile(r"^\+\d+$")
_CREATE_DATE = re.compile(r"^Create Date:\s*(.+)$", re.MULTILINE)

# Alembic's `context` and `op` are module-level proxies: two commands interleaving in one
# process (a run suspended on I/O while a preview starts) would swap them under each other.
# The advisory lock serialises runs between processes; this serialises Alembic within one.
_ALEMBIC_IN_PROCESS = threading.Lock()


def alembic_config(
    script_location: str | Path | None = None, output_buffer: io.StringIO | None = None
) -> Config:
    """Alembic's configuration for the packaged revisions (no ini file, nothing from the cwd)."""
    from alembic.config import Config

    config = Config(output_buffer=output_buffer)
    config.set_main_option("script_location", str(script_location or SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    config.set_main_option("timezone", "UTC")
    config.attributes["configure_logger"] = False
    return config


def _created(script: Script) -> datetime | None:
    match = _CREATE_DATE.search(script.longdoc or "")
    if not match:
        return None
    try:
        created = datetime.fromisoformat(match.group(1).strip())
    except ValueError:
        return None
    # alembic.ini sets timezone = UTC, so a date without an offset is UTC.
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def _down_revision(script: Script) -> str | list[str] | None:
    down = script.down_revision
    if down is None or isinstance(down, str):
        return down
    return list(down)


def describe_difference(diff: Any) -> str:
    """One line for one of compare_metadata's differences (a tuple, or a list of modify ops)."""
    if isinstance(diff, list):
        return "; ".join(describe_difference(d) for d in diff)
    kind = diff[0]
    if kind in ("add_table", "remove_table"):
        return f"{kind} {diff[1].name}"
    if kind in ("add_column", "remove_column"):
        return f"{kind} {diff[2]}.{diff[3].name}"
    if kind in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
        obj = diff[1]
        table = getattr(getattr(obj, "table", None), "name", "?")
        return f"{kind} {obj.name or '(unnamed)'} on {table}"
    if kind.startswith("modify_"):
        _, _, table, column, _, old, new = diff
        return f"{kind} {table}.{column}: {old!r} -> {new!r}"
    return " ".join(str(part) for part in diff)


def _known(script: ScriptDirectory) -> str:
    revisions = [s.revision for s in reversed(list(script.walk_revisions()))]
    return ", ".join([BASE, *revisions, "head", "+N", "-N"])


def _message(exc: BaseException) -> str:
    """What went wrong, in PostgreSQL's or Alembic's words; never a traceback or SQL text."""
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        source = getattr(orig, "__cause__", None) or orig
        words = str(getattr(source, "message", None) or source).strip()
        detail = getattr(source, "detail", None)
        code = sqlstate(exc)
        text_ = words + (f" ({detail})" if detail else "")
        return f"{text_} [SQLSTATE {code}]" if code else text_
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _statements() -> int:
    """SQL statements this request has run so far (0 outside a request, as in the CLI)."""
    metrics = current_metrics.get()
    return metrics.statements if metrics else 0


def _revs(heads: Sequence[str]) -> str:
    return ", ".join(heads) or BASE


class MigrationsService:
    """Alembic for the API and the CLI alike, on connections from `engine`."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        script_location: str | Path | None = None,
        metadata: MetaData | None = None,
        lock_timeout_ms: int = 15_000,
    ) -> None:
        self.engine = engine
        self.script_location = script_location
        self.metadata = metadata if metadata is not None else Base.metadata
        self.lock_timeout_ms = lock_timeout_ms
        self._script: ScriptDirectory | None = None
        self._script_key: tuple[tuple[str, int], ...] = ()

    # -- reading -----------------------------------------------------------------------------

    @property
    def script(self) -> ScriptDirectory:
        # Reloaded only when a revision file is added, removed or edited (say by
        # `just revision` while the console runs), so status never shows a stale history.
        key = self._revision_files()
        if self._script is None or key != self._script_key:
            from alembic.script import ScriptDirectory

            self._script = ScriptDirectory.from_config(alembic_config(self.script_location))
            self._script_key = key
        return self._script

    def _revision_files(self) -> tuple[tuple[str, int], ...]:
        location = Path(self.script_location or SCRIPT_LOCATION) / "versions"
        try:
            return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in location.glob("*.py")))
        except OSError:
            return ()

    def heads(self) -> list[str]:
        return list(self.script.get_heads())

    async def schema_state(self) -> SchemaState:
        """Current and head revisions: one short read, for /health and 503 answers."""
        async with self.engine.connect() as conn:
            current = await conn.run_sync(_current_heads)
        heads = self.heads()
        return SchemaState(current=current, heads=heads, at_head=set(current) == set(heads))

    async def explain_not_ready(self, error: SchemaNotReady) -> SchemaNotReady:
        """The same 503, its detail naming the current and head revisions (when readable)."""
        from alembic.util import CommandError

        try:
            state = await self.schema_state()
        except (SQLAlchemyError, OSError, CommandError) as exc:
            log.info("schema state unavailable for a 503 answer: %s", type(exc).__name__)
            return error
        if state.at_head:
            return SchemaNotReady(
                f"database schema is at head ({_revs(state.heads)}) but a table or column is "
                "missing — compare it with the models (GET /api/v1/migrations shows drift)"
            )
        return SchemaNotReady(
            f"database schema is at {_revs(state.current)}, head is {_revs(state.heads)}"
            " — run migrations"
        )

    async def status(self) -> MigrationStatus:
        async with self.engine.connect() as conn:
            return await conn.run_sync(self._status)

    def _status(self, conn: Connection) -> MigrationStatus:
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext
        from alembic.script.revision import RevisionError

        context = MigrationContext.configure(conn, opts={"compare_type": True})
        current = list(context.get_current_heads())
        script = self.script
        heads = list(script.get_heads())
        try:
            applied = {s.revision for s in script.iterate_revisions(tuple(current), BASE)}
        except RevisionError:
            # The database is at a revision these files do not know (newer code ran on it).
            log.warning("database is at unknown revision(s) %s", _revs(current))
            applied = set()
        history = [
            RevisionRead(
                revision=s.revision,
                down_revision=_down_revision(s),
                message=s.doc,
                created=_created(s),
                applied=s.revision in applied,
                is_current=s.revision in current,
                is_head=s.revision in heads,
            )
            for s in reversed(list(script.walk_revisions()))
        ]
        at_head = set(current) == set(heads)
        drift = Drift(checked=False, detected=False, differences=[])
        if at_head:
            try:
                found = compare_metadata(context, self.metadata)
            except NoSuchTableError:
                # A run committed DDL while the tables were being reflected: no verdict now.
                log.info("drift not checked: the schema changed during the comparison")
            else:
                differences = [describe_difference(d) for d in found]
                drift = Drift(
                    checked=True,
                    detected=bool(differences),
                    differences=differences[:MAX_DIFFERENCES],
                )
        running = bool(conn.scalar(text(lock_is_held_sql(MIGRATION_LOCK_KEY))))
        return MigrationStatus(
            current=current,
            heads=heads,
            at_head=at_head,
            pending=sum(1 for r in history if not r.applied),
            running=running,
            history=history,
            drift=drift,
        )

    # -- planning ----------------------------------------------------------------------------

    def plan(self, direction: Direction, target: str, current: Sequence[str]) -> list[Script]:
        """The revisions a run would execute, in order; UnknownRevision if the target is bad."""
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        script = self.script
        try:
            if direction == "upgrade":
                steps = script.iterate_revisions(target, tuple(current), implicit_base=True)
                return list(reversed(list(steps)))
            steps = script.iterate_revisions(tuple(current), target, select_for_downgrade=True)
            return list(steps)
        except (RevisionError, CommandError, ValueError) as exc:
            raise self._unknown(target, exc) from None

    async def source(self, revision: str) -> RevisionSource:
        """A revision file's text (read-only, for review); NotFound for an unknown id."""
        return await asyncio.to_thread(self._source, revision)

    def _source(self, revision: str) -> RevisionSource:
        found = next((s for s in self.script.walk_revisions() if s.revision == revision), None)
        if found is None or found.path is None:
            raise NotFound(f"no revision {revision!r}; known revisions: {_known(self.script)}")
        path = Path(found.path)
        return RevisionSource(revision=revision, filename=path.name, source=path.read_text())

    def _unknown(self, target: str, exc: BaseException) -> UnknownRevision:
        reason = str(exc).strip() or type(exc).__name__
        detail = f"cannot migrate to {target!r}: {reason}; known revisions: {_known(self.script)}"
        return UnknownRevision(detail, [FieldError("target", reason)])

    def _destination(self, direction: Direction, plan: list[Script], current: list[str]) -> str:
        """Where a plan ends, as one revision id or `base` (the history has a single line)."""
        if not plan:
            return current[0] if current else BASE
        if direction == "upgrade":
            return plan[-1].revision
        down = plan[-1].down_revision
        if down is None:
            return BASE
        return down if isinstance(down, str) else down[0]

    # -- running -----------------------------------------------------------------------------

    async def upgrade(self, target: str = "head") -> MigrationRun:
        return await self._run("upgrade", target)

    async def downgrade(self, target: str = "-1") -> MigrationRun:
        return await self._run("downgrade", target)

    @contextmanager
    def _alembic_turn(self) -> Iterator[None]:
        if not _ALEMBIC_IN_PROCESS.acquire(blocking=False):
            raise MigrationRunning("a migration is running; try again when it has finished")
        try:
            yield
        finally:
            _ALEMBIC_IN_PROCESS.release()

    async def _run(self, direction: Direction, target: str) -> MigrationRun:
        started = time.perf_counter()
        statements_before = _statements()
        with self._alembic_turn():
            async with self.engine.connect() as conn:
                result = await self._run_locked(conn, direction, target, started, statements_before)
        if result.applied:
            # Pooled connections cache prepared statements planned for the old schema.
            await self.engine.dispose()
        return result

    async def _run_locked(
        self,
        conn: AsyncConnection,
        direction: Direction,
        target: str,
        started: float,
        statements_before: int,
    ) -> MigrationRun:
        await conn.begin()
        locked = await conn.scalar(select(func.pg_try_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        if not locked:
            await conn.rollback()
            log.info("migrations.%s to %s refused: a migration is running", direction, target)
            raise MigrationRunning("a migration is running; try again when it has finished")
        # A long backfill may outlast the request statement timeout; waiting for a table
        # lock may not, or every request queued behind the DDL would wait with it.
        await conn.execute(text("SET LOCAL statement_timeout = 0"))
        await conn.execute(text(f"SET LOCAL lock_timeout = {int(self.lock_timeout_ms)}"))
        # A revision's backfill is not a write to show row by row (and nothing would take
        # the rows out of xray_changes: the run's outcome is recorded without the X-ray).
        await conn.execute(text("SET LOCAL stackdeck.xray = 'off'"))
        current: list[str] = await conn.run_sync(_current_heads)
        try:
            plan = self.plan(direction, target, current)
        except UnknownRevision:
            await conn.rollback()
            raise
        destination = self._destination(direction, plan, current)
        applied: list[str] = []
        try:
            await conn.run_sync(self._alembic, direction, destination, applied)
            after: list[str] = await conn.run_sync(_current_heads)
            run = MigrationRun(
                direction=direction,
                from_=current,
                to=after,
                applied=applied,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                recorded=False,
            )
            run.recorded = await self._record(
                conn, run, "committed", None, _statements() - statements_before
            )
            await conn.commit()
        except Exception as exc:
            failed_at = plan[len(applied)].revision if len(applied) < len(plan) else "?"
            await _rollback_quietly(conn)
            raise await self._failure(
                direction, target, current, failed_at, exc, started, statements_before
            ) from None
        log.info(
            "migrations.%s %s -> %s applied %s in %.0f ms",
            direction,
            _revs(current),
            _revs(after),
            applied or "nothing",
            run.duration_ms,
        )
        return run

    def _alembic(
        self, conn: Connection, direction: Direction, destination: str, applied: list[str]
    ) -> None:
        from alembic import command

        def on_version_apply(*, step: MigrationInfo, **_: Any) -> None:
            applied.append(step.up_revision_id or "?")

        config = alembic_config(self.script_location)
        config.attributes["connection"] = conn
        config.attributes["on_version_apply"] = on_version_apply
        if direction == "upgrade":
            command.upgrade(config, destination)
        else:
            command.downgrade(config, destination)

    async def _record(
        self,
        conn: AsyncConnection,
        run: MigrationRun,
        outcome: str,
        reason: str | None,
        statements: int,
    ) -> bool:
        """The outcome row, in the caller's transaction, if the log exists at this revision."""
        if not await conn.scalar(text("SELECT to_regclass('transaction_log') IS NOT NULL")):
            log.warning(
                "migrations.%s %s not recorded: no transaction_log at revision %s",
                run.direction,
                outcome,
                _revs(run.to),
            )
            return False
        summary = f"{_revs(run.from_)} -> {_revs(run.to)}"
        if run.applied:
            summary += f" (applied {', '.join(run.applied)})"
        await record_outcome(
            conn,
            OutcomeRecord(
                operation=f"migrations.{run.direction}",
                outcome="committed" if outcome == "committed" else "rolled_back",
                entity="schema",
                reason=reason or summary,
                duration_ms=run.duration_ms,
                statement_count=statements,
                request_id=current_request_id(),
            ),
        )
        return True

    async def _failure(
        self,
        direction: Direction,
        target: str,
        current: list[str],
        failed_at: str,
        exc: Exception,
        started: float,
        statements_before: int,
    ) -> Exception:
        message = self._scrub(_message(exc))
        detail = (
            f"{direction} to {target} failed at revision {failed_at}: {message}; "
            f"rolled back, the database is still at {_revs(current)}"
        )
        translated = infrastructure_error(exc)
        transient = isinstance(translated, Unavailable) and not isinstance(
            translated, SchemaNotReady
        )
        error: Exception = MigrationInterrupted(detail) if transient else MigrationFailed(detail)
        log.error("migrations.%s rolled back: %s", direction, detail)
        run = MigrationRun(
            direction=direction,
            from_=current,
            to=current,
            applied=[],
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            recorded=False,
        )
        try:
            # A fresh connection: the run's own may be what failed (killed, timed out).
            async with self.engine.begin() as fresh:
                await self._record(
                    fresh, run, "rolled_back", detail, _statements() - statements_before
                )
        except (SQLAlchemyError, OSError) as record_exc:
            # The connection may be why the run failed; the caller still gets the error.
            log.warning(
                "migrations.%s rolled_back not recorded: %s", direction, type(record_exc).__name__
            )
        return error

    def _scrub(self, message: str) -> str:
        password = self.engine.url.password
        if password:
            message = message.replace(str(password), "***")
        return message

    # -- previewing --------------------------------------------------------------------------

    async def sql(self, from_rev: str | None = None, to_rev: str | None = None) -> MigrationSql:
        """The SQL a run from `from_rev` (default: current) to `to_rev` (default: head) executes.

        Alembic's offline mode renders it without touching the database; only the current
        revision is read, when `from_rev` is not given or a step is relative to it.
        """
        if from_rev is None or from_rev in ("current", ""):
            state = await self.schema_state()
            from_heads = state.current
        else:
            from_heads = self._resolve(from_rev)
        target = to_rev or "head"
        direction = self._direction(target, from_heads)
        plan = self.plan(direction, target, from_heads)
        source = _revs(from_heads) if len(from_heads) == 1 else BASE
        destination = self._destination(direction, plan, from_heads)
        if not plan:
            sql = f"-- nothing to run: {source} is already at {destination}\n"
        else:
            with self._alembic_turn():
                sql = self._offline(direction, source, destination)
        return MigrationSql(from_=source, to=destination, direction=direction, sql=sql)

    def _resolve(self, revision: str) -> list[str]:
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        if revision == BASE:
            return []
        try:
            found = self.script.get_revisions(revision)
        except (RevisionError, CommandError, ValueError) as exc:
            raise self._unknown(revision, exc) from None
        return [s.revision for s in found if s is not None]

    def _direction(self, target: str, from_heads: list[str]) -> Direction:
        from alembic.script.revision import RevisionError

        if target == BASE or _RELATIVE_DOWN.match(target):
            return "downgrade"
        if target in ("head", "heads") or _RELATIVE_UP.match(target):
            return "upgrade"
        wanted = self._resolve(target)
        try:
            below = {s.revision for s in self.script.iterate_revisions(tuple(from_heads), BASE)}
        except RevisionError:
            below = set()
        return "downgrade" if wanted and set(wanted) <= below else "upgrade"

    def _offline(self, direction: Direction, source: str, destination: str) -> str:
        from alembic import command
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        buffer = io.StringIO()
        config = alembic_config(self.script_location, output_buffer=buffer)
        try:
            if direction == "upgrade":
                command.upgrade(config, f"{source}:{destination}", sql=True)
            else:
                command.downgrade(config, f"{source}:{destination}", sql=True)
        except (CommandError, RevisionError) as exc:
            raise self._unknown(destination, exc) from None
        return buffer.getvalue()


def _current_heads(conn: Connection) -> list[str]:
    from alembic.runtime.migration import MigrationContext

    return list(MigrationContext.configure(conn).get_current_heads())


async def _rollback_quietly(conn: AsyncConnection) -> None:
    try:
        await conn.rollback()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("rollback after a failed migration failed: %s", type(exc).__name__)

"""Reading PostgreSQL's error codes out of asyncpg's exceptions, SQLAlchemy-wrapped or not."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from stackdeck.backend.db.connections import LOST_PREPARED_STATEMENT, POOLER_MISMATCH
from stackdeck.backend.errors import (
    DomainError,
    InvalidInput,
    PoolerMismatch,
    SchemaNotReady,
    Unavailable,
)

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a SQLAlchemy-wrapped error, or of asyncpg's own (COPY runs on it)."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code else None


# What a failing database raises, wrapped by SQLAlchemy or from asyncpg directly (the read
# pool, db/in_transaction.py): the unit of work's best-effort steps swallow these, and only
# these.
DATABASE_FAILURES = (
    SQLAlchemyError,
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)

# A violated constraint: SQLAlchemy's wrapping of it, or asyncpg's own from the statements
# run on the driver (db/reads.py, db/in_transaction.py).
INTEGRITY_ERRORS = (IntegrityError, asyncpg.IntegrityConstraintViolationError)


def constraint_name(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    cause = exc if orig is None else getattr(orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None)
    return str(name) if name else None


def infrastructure_error(exc: BaseException) -> DomainError | None:
    """Translate a database failure that no service anticipated; None if it is a real bug."""
    if isinstance(exc, PoolTimeout):
        return Unavailable("no database connection became free in time; retry shortly")
    if isinstance(exc, (OSError, ConnectionError)):
        return Unavailable("the database is unreachable; retry shortly")
    if isinstance(exc, asyncpg.InternalClientError):
        # A statement sent as the server's error was arriving on a connection it was ending
        # (a restart): the connection is gone, as far as this request is concerned.
        return _lost()
    if isinstance(exc, asyncpg.InterfaceError):
        # The read pool runs asyncpg unwrapped. Its plain InterfaceError is a connection
        # closed under it; its ValueError kind, a parameter it could not encode.
        if type(exc) is asyncpg.InterfaceError:
            return _lost()
        if isinstance(exc, ValueError):
            return InvalidInput("a value was rejected by the database (out of range or malformed)")
        return None
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return _lost()
        return _by_sqlstate(sqlstate(exc) or "")
    if isinstance(exc, asyncpg.PostgresError):
        return _by_sqlstate(exc.sqlstate or "")
    return None


def _by_sqlstate(code: str) -> DomainError | None:
    if code in LOST_PREPARED_STATEMENT:
        return PoolerMismatch(POOLER_MISMATCH)
    if code.startswith(("08", "57P", "53")) or not code:
        return _lost()
    if code == "57014":
        return Unavailable("the database took too long (statement timeout); retry shortly")
    if code in ("40001", "40P01", "55P03"):
        return Unavailable("the database could not serialise this request; retry it")
    if code in ("42P01", "42703"):
        return SchemaNotReady("database schema is not migrated — run migrations")
    if code.startswith("22"):
        return InvalidInput("a value was rejected by the database (out of range or malformed)")
    return None


def _lost() -> Unavailable:
    return Unavailable("the database connection was lost; retry shortly")

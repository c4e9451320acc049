"""The domain error tree: what services raise. The routes layer maps it to problem+json."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    """Base of every error a service may raise; `detail` is safe to show a user."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


@dataclass
class InvalidInput(DomainError):
    """Input that is well-formed but refers to something that cannot be used."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)
    title = "Invalid input"

    def __post_init__(self) -> None:
        Exception.__init__(self, self.detail)


class Unavailable(DomainError):
    """The database cannot serve right now; the client should retry after a moment."""

    title = "Service unavailable"
    retry_after_seconds = 1


class SchemaNotReady(Unavailable):
    title = "Database schema not ready"


class PoolerMismatch(Unavailable):
    """The connections are set up for a session the database's pooler does not keep."""

    title = "Database pooler misconfigured"
    retry_after_seconds = 30


class MigrationRunning(Conflict):
    """Another migration run holds the migration lock; nothing was done."""

    title = "Migration running"


@dataclass
class UnknownRevision(InvalidInput):
    """A migration target (or range end) that the revision history does not contain."""

    title = "Unknown revision"


class MigrationFailed(DomainError):
    """A revision failed; the run was rolled back whole, so the schema is where it started.

    Answered as 500: the request was valid and the failure is in the server's own revision
    code (or in data that revision did not expect), so neither the client's fault (4xx) nor
    worth retrying as it is (503). A failure that is transient (connection lost, lock or
    statement timeout) is raised as MigrationInterrupted, a 503, instead.
    """

    title = "Migration failed"


class MigrationInterrupted(Unavailable):
    """The run lost its connection or timed out; rolled back whole, it may be retried."""

    title = "Migration interrupted"

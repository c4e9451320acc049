"""stackdeck: a terminal console for an async FastAPI + SQLAlchemy + PostgreSQL backend.

The repository keeps `backend/`, `tui/` and `migrations/` at its top level; installed, they
are `stackdeck.backend`, `stackdeck.tui` and `stackdeck.migrations`, so the distribution
claims this one import name.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("stackdeck")
except PackageNotFoundError:  # a checkout run without installing it
    __version__ = "0+unknown"

"""stackdeck: a terminal console for an async FastAPI + SQLAlchemy + PostgreSQL backend.

The repository keeps `backend/`, `tui/` and `migrations/` at its top level; installed, they
are `stackdeck.backend`, `stackdeck.tui` and `stackdeck.migrations`, so the distribution
claims this one import name.
"""


def __getattr__(name: str) -> str:
    # `__version__` is read when asked for: importlib.metadata costs the console's launch
    # about 25 ms, and only --version needs it.
    if name != "__version__":
        raise AttributeError(f"module 'stackdeck' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stackdeck")
    except PackageNotFoundError:  # a checkout run without installing it
        return "0+unknown"

# stackdeck's recipes. `just check` runs what CI runs.
set positional-arguments

export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")

# list the recipes
default:
    @just --list

# the console (embedded PostgreSQL + backend + TUI)
run *args:
    stackdeck "$@"

# the HTTP API alone (embedded PostgreSQL unless STACKDECK_DATABASE_URL is set)
serve *args:
    stackdeck serve "$@"

# the default test suite (under 10 minutes on 2 cores)
test *args:
    pytest -m "not slow" --durations=15 "$@"

# every test, the long ones too
test-all *args:
    pytest "$@"

# benchmarks: a table of figures against baselines from the same run (--quick: < 2 min;
# --peers: then stackdeck beside harlequin and sqlit-tui in tmux)
bench *args:
    python -m benchmarks "$@"

# format check, lint and types
lint:
    ruff format --check .
    ruff check .
    mypy

# known vulnerabilities in the installed dependencies (needs the PyPI JSON API or OSV)
audit:
    pip-audit --skip-editable --strict

# lint, then the default tests: exactly what CI runs
check: lint test

# apply migrations (alembic upgrade head by default)
migrate target="head":
    alembic upgrade "$1"

# new migration revision from model changes: just revision "add something"
revision message:
    alembic revision --autogenerate -m "$1"

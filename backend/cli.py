"""The `stackdeck` command: `serve` runs the API (on the embedded PostgreSQL by default)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackdeck.backend import exits
from stackdeck.backend.cli_migrate import add_migrate_parser, migrate

# Imported where used: the console's launch turns the cyclic collector off (see
# _collect_after_launch) before the bulk of its imports, so this module imports little.
if TYPE_CHECKING:
    from pydantic import ValidationError

    from stackdeck.backend.settings import Settings
    from stackdeck.tui.config_model import Config


def _fail(message: str, code: int = 2) -> int:
    print(f"stackdeck: error: {message}", file=sys.stderr)
    return code


def settings_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "settings"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{field}: {message}"


# Test-only: the console raises once the embedded PostgreSQL is up, as a console that crashes
# at start-up would (tests/test_ways_out.py). Read here and nowhere else.
CRASH_AFTER_DATABASE = "STACKDECK_TEST_CRASH_AFTER_DATABASE"


class _Version(argparse.Action):
    """argparse's "version" action, with the version read only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        import stackdeck

        print(f"{parser.prog} {stackdeck.__version__}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackdeck",
        description="A terminal console for an async FastAPI + SQLAlchemy + PostgreSQL backend.",
        epilog="Settings also come from STACKDECK_* environment variables and a .env file.",
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="the console's config file (default STACKDECK_CONFIG, else "
        "~/.config/stackdeck/config.toml)",
    )
    console = parser.add_argument_group("the console (no COMMAND)")
    console.add_argument("--profile", help="open this [profiles.NAME] of the config file")
    console.add_argument("--api-url", help="run the console alone against this backend")
    console.add_argument("--token", help="bearer token for --api-url (default STACKDECK_API_TOKEN)")
    console.add_argument(
        "--read-only", action="store_true", help="hide the write keys; the client refuses writes"
    )
    console.add_argument(
        "--database-url", help="PostgreSQL for the embedded backend (STACKDECK_DATABASE_URL)"
    )
    console.add_argument("--data-dir", help="embedded PostgreSQL's data dir (STACKDECK_DATA_DIR)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the HTTP API with uvicorn",
        description="Run the HTTP API. Without a database URL it starts the embedded "
        "PostgreSQL in the data dir first (data is kept between runs).",
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, or STACKDECK_HOST)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000, or STACKDECK_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        help="processes serving the port, each with its own pools (default 1, or "
        "STACKDECK_WORKERS); see the README for the connections they need",
    )
    serve.add_argument(
        "--database-url",
        help="PostgreSQL URL (default STACKDECK_DATABASE_URL; unset: embedded PostgreSQL)",
    )
    serve.add_argument(
        "--data-dir", help="embedded PostgreSQL's data dir (default STACKDECK_DATA_DIR)"
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default info)",
    )
    web = commands.add_parser(
        "web",
        help="serve the console to browsers (textual-serve)",
        description="Serve the console to browsers: each page runs a console of its own against "
        "one backend (--api-url, or one started here). Loopback by default; any other bind "
        "needs STACKDECK_API_TOKEN, which the page is then opened with once (/?token=…).",
    )
    web.add_argument("--host", help="address to bind (default 127.0.0.1, or STACKDECK_HOST)")
    web.add_argument("--port", type=int, help="port to bind (default 8080)")
    web.add_argument("--api-url", help="the backend the consoles use (default: one started here)")
    web.add_argument("--read-only", action="store_true", help="consoles without the write keys")
    add_migrate_parser(commands)
    commands.add_parser(
        "config",
        help="print the config file's path and the settings in effect",
        description="Print the console's config file path, then the settings in effect as "
        "TOML (every binding id with its key; tokens masked as ***).",
    )
    seed = commands.add_parser(
        "seed",
        help="fill the database with realistic users and posts (COPY, one transaction)",
        description="Append N users with K posts each: realistic names, emails, titles and "
        "bodies, the same for the same --seed. It lands whole or not at all, and running "
        "it again appends (ids and emails continue).",
    )
    seed.add_argument("--users", type=int, required=True, help="how many users to add")
    seed.add_argument("--posts-per-user", type=int, default=3, help="posts for each (default 3)")
    seed.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    seed.add_argument("--database-url", help="PostgreSQL URL (default: as for serve)")
    seed.add_argument("--data-dir", help="embedded PostgreSQL's data dir")
    return parser


def load_settings(args: argparse.Namespace) -> Settings:
    from stackdeck.backend.settings import Settings

    overrides = {
        key: value
        for key in ("host", "port", "workers", "database_url", "data_dir")
        if (value := getattr(args, key, None)) is not None
    }
    return Settings(**overrides)


def serve(settings: Settings, log_level: str = "info") -> int:
    from stackdeck.backend.db.embedded import EmbeddedDatabaseError, database_for
    from stackdeck.backend.main import create_app
    from stackdeck.backend.server import serve as run_server
    from stackdeck.backend.settings import mask_url

    try:
        with database_for(settings) as resolved:
            url = resolved.database_url_value() or ""
            workers = f", {resolved.workers} workers" if resolved.workers > 1 else ""
            print(
                f"stackdeck: serving http://{resolved.host}:{resolved.port} "
                f"(database {mask_url(url)}{workers})",
                file=sys.stderr,
            )
            if resolved.workers > 1:
                # The supervisor handles the signals; the embedded PostgreSQL is released
                # when the block ends, after every worker has stopped.
                from stackdeck.backend.workers import run as run_workers

                if not run_workers(resolved, log_level):
                    # uvicorn's exit code for a server that failed to start
                    return _fail("a worker could not start; see the log above", 3)
                return 0
            # uvicorn shuts down gracefully on SIGTERM/SIGINT (and SIGHUP, see exits), then
            # re-raises the signal: a normal exit from here on, releasing the embedded server.
            with contextlib.suppress(KeyboardInterrupt):
                run_server(create_app(resolved), resolved.host, resolved.port, log_level)
    except EmbeddedDatabaseError as exc:
        return _fail(str(exc))
    except exits.Signalled:
        return 0  # stopped as asked, after a graceful shutdown
    return 0


def _collect_after_launch() -> None:
    """The cyclic collector back on, once the console's first page is on screen.

    A launch builds about 300,000 objects that live until exit (modules, classes, the app,
    SQLAlchemy's and Textual's structures) and little garbage. The collector would run about
    490 times over them before the first page, 3 times in full (a fifth of the launch's CPU,
    measured), and in full once more soon after. Frozen, they stay out of every later
    collection; the few cycles the launch left (about 24,000 objects, ~4 MB) are kept."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None and gc.isenabled():
        gc.disable()  # until the console's first page: _collect_after_launch
        try:
            return _main(parser, args)
        finally:
            _collect_after_launch()
    return _main(parser, args)


def read_console_config(explicit: str | None) -> tuple[Path, Config | None]:
    """The config file's path and contents (None: no file at the default path).
    ConfigError: one line per mistake; a path given by --config or STACKDECK_CONFIG must exist."""
    from stackdeck.tui.config import ConfigError, config_path, default_path

    path = config_path(explicit)
    if not path.is_file():
        if path != default_path():
            raise ConfigError([f"{path}: no such file (from --config or STACKDECK_CONFIG)"])
        return path, None
    from stackdeck.tui.main import read_config  # the console's themes and binding ids

    return path, read_config(path)


def show_config(explicit: str | None) -> int:
    from stackdeck.tui.config import ConfigError
    from stackdeck.tui.config_model import Config
    from stackdeck.tui.main import show_config as lines_of

    try:
        path, config = read_console_config(explicit)
    except ConfigError as error:
        return _fail_lines(error.lines)
    print("\n".join(lines_of(path, config or Config())))
    return 0


def _fail_lines(lines: list[str]) -> int:
    for line in lines:
        _fail(line)
    return 2


def _main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    # Every way out runs the `finally` blocks that release what a command started.
    with exits.handle_signals():
        try:
            return _run(parser, args)
        except exits.Signalled as exc:
            print(f"stackdeck: stopped by {exc.name}", file=sys.stderr)
            return int(exc.code or 0)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "config":
        return show_config(args.config)
    if args.command is None:
        return console(args)
    from pydantic import ValidationError

    try:
        settings = load_settings(args)
    except ValidationError as exc:
        return _fail(settings_error(exc))
    if args.command == "serve":
        return serve(settings, args.log_level)
    if args.command == "migrate":
        return migrate(args, settings)
    if args.command == "seed":
        from stackdeck.backend.cli_seed import seed

        return seed(args, settings)
    if args.command == "web":
        from stackdeck.backend.web import serve_web

        return serve_web(args, settings)
    parser.print_help()
    return 0


def console_setting(name: str) -> str | None:
    """A setting the console itself needs, read as Settings reads it (the environment, then
    .env) without building Settings: its first frame needs neither pydantic-settings nor
    SQLAlchemy (the backend's child process builds them)."""
    key = f"STACKDECK_{name.upper()}"
    if key in os.environ:
        return os.environ[key] or None
    from dotenv import dotenv_values

    return dotenv_values(".env").get(key) or None


def console(args: argparse.Namespace) -> int:
    """The default: the console, on the embedded backend unless --api-url or --profile."""
    from stackdeck.tui.config import ConfigError, pick_profile, profile_token

    # A broken file stops here, before anything starts: one line per mistake, exit 2.
    try:
        path, config = read_console_config(args.config)
        if args.profile is not None:
            if args.api_url or args.token:
                return _fail("--profile names its own backend: drop --api-url and --token")
            from stackdeck.tui.config_model import Config

            profile = pick_profile(path, config or Config(), args.profile)
            args.api_url = profile.api_url
            args.token = profile_token(path, args.profile, profile)
            args.read_only = args.read_only or profile.read_only
    except ConfigError as problem:
        return _fail_lines(problem.lines)
    token = console_setting("api_token")
    if args.api_url:
        from stackdeck.tui.main import run_console

        return run_console(
            args.api_url,
            token=args.token or token,
            read_only=args.read_only,
            after_first_page=_collect_after_launch,
            config=config,
            config_path=path,
            profile=args.profile,
        )
    # The backend starts in a child process, on the other core, while the console imports
    # and draws itself; the console loads once `starting` resolves (its first requests would
    # wait in the backlog).
    from stackdeck.backend.backend_process import BackendProcess
    from stackdeck.backend.listening import LauncherError

    overrides = {"host": console_setting("host") or "127.0.0.1", "port": 0}
    for option in ("database_url", "data_dir"):  # over the pipe, never the child's argv
        if (value := getattr(args, option)) is not None:
            overrides[option] = value
    backend = BackendProcess(overrides)
    try:
        url = backend.listen()
        starting = backend.start_soon()
    except LauncherError as exc:
        backend.stop()
        return _fail(str(exc))
    try:
        from stackdeck.tui.main import run_console  # imported while PostgreSQL starts

        if os.environ.get(CRASH_AFTER_DATABASE):
            starting.result()
            raise RuntimeError(f"{CRASH_AFTER_DATABASE} is set: crashing after the database")
        code = run_console(
            url,
            token=token,
            read_only=args.read_only,
            starting=starting,
            after_first_page=_collect_after_launch,
            config=config,
            config_path=path,
            notice=lambda: backend.notice,
        )
    finally:
        backend.stop()
    if starting.done() and (error := starting.exception()) is not None:
        if isinstance(error, LauncherError):
            return _fail(str(error))
        raise error
    return code


if __name__ == "__main__":
    sys.exit(main())

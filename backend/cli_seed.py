"""`stackdeck seed`: bulk data with a progress bar, through the seeding service."""

from __future__ import annotations

import argparse
import sys

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stackdeck.backend import exits
from stackdeck.backend.db.embedded import EmbeddedDatabaseError, database_for
from stackdeck.backend.db.engine import create_engine, create_sessionmaker
from stackdeck.backend.db.errors import infrastructure_error
from stackdeck.backend.errors import DomainError
from stackdeck.backend.services.seeding import SeedResult, SeedService
from stackdeck.backend.settings import Settings


def seed(args: argparse.Namespace, settings: Settings) -> int:
    if args.users < 1 or args.posts_per_user < 0:
        print(
            "stackdeck: error: --users must be 1 or more, --posts-per-user 0 or more",
            file=sys.stderr,
        )
        return 2
    try:
        with database_for(settings) as resolved:
            result = exits.run(_seed(args, resolved))
    except EmbeddedDatabaseError as exc:
        print(f"stackdeck: error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"stackdeck: error: {exc.detail} (nothing was written)", file=sys.stderr)
        return 1
    print(
        f"seeded {result.users:,} users (ids from {result.first_user_id:,}) and "
        f"{result.posts:,} posts in {result.seconds:.1f} s "
        f"({result.rows_per_second:,.0f} rows/s)"
    )
    return 0


async def _seed(args: argparse.Namespace, settings: Settings) -> SeedResult:
    # A seed is one long transaction: no statement timeout cuts it off halfway. Its COPY
    # prepares by name, which only a session of its own keeps: the direct URL.
    session_mode = {"pool_mode": "session"} if settings.direct_database_url else {}
    engine = create_engine(
        settings.direct_database_url_value() or "",
        settings.model_copy(update={"statement_timeout_ms": 0, "xray": False, **session_mode}),
    )
    total = args.users * (1 + args.posts_per_user)
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as progress:
            task = progress.add_task("seeding", total=total)
            async with create_sessionmaker(engine)() as session:
                return await SeedService(session).seed(
                    args.users,
                    args.posts_per_user,
                    args.seed,
                    progress=lambda rows: progress.advance(task, rows),
                    stage=lambda what: progress.update(task, description=what),
                )
    except Exception as exc:
        translated = infrastructure_error(exc)
        if translated is None:
            raise
        raise translated from exc
    finally:
        await engine.dispose()

"""Production-topology figures: the same reads through PgBouncer (transaction mode) and direct."""

from __future__ import annotations

from pathlib import Path

from benchmarks import http
from benchmarks.harness import backend
from benchmarks.load import LoadResult
from tests.pg import PgCluster
from tests.support.pgbouncer import pgbouncer


def through_pgbouncer(
    cluster: PgCluster, direct: http.Target, database_url: str, logs: Path, users: int, quick: bool
) -> tuple[LoadResult, LoadResult]:
    """By-id reads: (direct, through PgBouncer), measured in turns within each repetition."""
    seconds, repetitions = (3.0, 1) if quick else (10.0, 3)
    with pgbouncer(cluster.admin_url, "transaction") as bouncer:
        env = {
            "STACKDECK_POOL_MODE": "transaction",
            "STACKDECK_DIRECT_DATABASE_URL": database_url,
        }
        with backend(bouncer.url_for(database_url), logs, env) as server:
            bounced = http.Target("pgbouncer", server.url)
            found = http.measure(
                {t.name: (t, "/api/v1/users/{id}") for t in (direct, bounced)},
                seconds,
                repetitions,
                (1, users),
            )
    return found[direct.name], found[bounced.name]

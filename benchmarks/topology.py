"""Production-topology figures: the same reads through PgBouncer (transaction mode) and direct,
and from a streaming standby and from the primary."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from benchmarks import http
from benchmarks.harness import backend
from benchmarks.load import LoadResult
from tests.pg import PgCluster
from tests.standby import make_standby
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


def on_standby(
    cluster: PgCluster, database_url: str, logs: Path, users: int, quick: bool
) -> tuple[LoadResult, LoadResult]:
    """By-id reads: (from the primary, from a standby of it), each through a backend of its
    own (STACKDECK_READ_DATABASE_URL on the second), measured in turns."""
    assert cluster.embedded is not None
    seconds, repetitions = (3.0, 1) if quick else (10.0, 3)
    standby = make_standby(cluster.embedded)
    try:
        env = {"STACKDECK_READ_DATABASE_URL": standby.url_for(str(make_url(database_url).database))}
        with backend(database_url, logs) as primary, backend(database_url, logs, env) as replica:
            deadline = time.monotonic() + 60
            while httpx.get(f"{replica.url}/api/v1/health").json().get("replica") != "up":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the standby never came up; see {replica.log_path}")
                time.sleep(0.2)
            targets = (http.Target("primary", primary.url), http.Target("standby", replica.url))
            found = http.measure(
                {t.name: (t, "/api/v1/users/{id}") for t in targets},
                seconds,
                repetitions,
                (1, users),
            )
    finally:
        standby.remove()
    return found["primary"], found["standby"]

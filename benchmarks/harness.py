"""What every benchmark needs: a PostgreSQL, a migrated database, backend processes."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.pg import PgCluster, create_migrated_template, start_cluster
from tests.processes import Backend, backend_process


@contextmanager
def database() -> Iterator[tuple[PgCluster, str]]:
    """A fresh migrated database on the embedded server (or STACKDECK_DATABASE_URL's)."""
    with tempfile.TemporaryDirectory(prefix="stackdeck-bench-") as tmp:
        cluster = start_cluster(Path(tmp))
        name = asyncio.run(create_migrated_template(cluster))
        try:
            yield cluster, cluster.url_for(name)
        finally:
            asyncio.run(cluster.drop_database(name))
            if cluster.embedded is not None:
                cluster.embedded.stop()


@contextmanager
def backend(
    database_url: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[Backend]:
    settings = {"STACKDECK_DATABASE_URL": database_url, **(env or {})}
    with backend_process(log_dir, "--log-level", "warning", *args, env=settings) as server:
        yield server


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a load generator in its own process, so it never shares a core's loop with us."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )

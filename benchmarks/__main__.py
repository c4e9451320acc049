"""`just bench [--quick]`: run the benchmarks, print a table, write benchmarks/results.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import browse, bulk, http, roundtrips, stream, topology, writes, xray
from benchmarks.console import measure as measure_console
from benchmarks.harness import backend, database, median
from benchmarks.load import LoadResult
from tests.pg import PgCluster, create_migrated_template
from tests.soak import soak

RESULTS = Path(__file__).with_name("results.json")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: str
    passed: bool | None
    detail: str = ""

    @classmethod
    def ratio(
        cls,
        name: str,
        value: float,
        *,
        at_least: float | None = None,
        at_most: float | None = None,
        detail: str = "",
    ) -> Figure:
        """A ratio against a baseline, with its goal stated once: as a bound."""
        if at_least is not None:
            return cls(name, value, "x", f">= {at_least:g}", value >= at_least, detail)
        assert at_most is not None
        return cls(name, value, "x", f"<= {at_most:g}", value <= at_most, detail)


def stream_figures(api: str, users: int, quick: bool) -> list[Figure]:
    seconds = 5.0 if quick else 15.0
    result = asyncio.run(stream.latency(api, subscribers=20, rate=200, seconds=seconds))
    repetitions = 1 if quick else 3
    asyncio.run(stream.writer_throughput(api, 0, seconds=1))  # warm-up: plans, pools, caches
    alone: list[stream.WriterRun] = []
    with_readers: list[stream.WriterRun] = []
    for _ in range(repetitions):
        alone.append(asyncio.run(stream.writer_throughput(api, 0, seconds=3)))
        with_readers.append(asyncio.run(stream.writer_throughput(api, 20, seconds=3)))
    rate_alone = median([run.per_second for run in alone])
    rate_with = median([run.per_second for run in with_readers])
    # Each pair ran back to back: the median of their ratios, not the ratio of medians,
    # so that a neighbour's load coming or going between pairs does not skew it.
    ratio = median([w.per_second / a.per_second for a, w in zip(alone, with_readers, strict=True)])
    missed = [
        f"{run.missed} of 20 missed events ({min(run.received)}/{run.writes})"
        for run in with_readers
        if run.missed
    ]
    complete = result["delivered_to_each"] == result["writes"]
    return [
        Figure(
            f"SSE commit-to-event p50, 200 writes/s, 20 subscribers, {users:,} users",
            result["p50_ms"],
            "ms",
            "-",
            None,
        ),
        Figure(
            f"SSE commit-to-event p99, 200 writes/s, 20 subscribers, {users:,} users",
            result["p99_ms"],
            "ms",
            "<= 50 ms, every event to every subscriber",
            result["p99_ms"] <= 50 and complete,
            f"{result['delivered_to_each']}/{result['writes']} events to each subscriber",
        ),
        Figure(
            f"writer throughput with 20 subscribers / with none, {users:,} users",
            ratio,
            "x",
            ">= 0.9, every event to every subscriber",
            ratio >= 0.9 and not missed,
            "; ".join([f"{rate_with:.0f}/s vs {rate_alone:.0f}/s", *missed]),
        ),
    ]


def round_trip_figures(cluster: PgCluster, database_url: str, logs: Path) -> list[Figure]:
    """What PostgreSQL itself received per request (log_statement=all), BEGIN and pings too."""
    by_id, small, large = (
        "/api/v1/users/1",
        "/api/v1/users?limit=10&embed=posts",
        "/api/v1/users?limit=500&embed=posts",
    )
    found = roundtrips.count(cluster, database_url, logs, [by_id, small, large])
    if found is None:
        return [Figure("database round trips per request", 0, "", "-", None, "external server")]
    trips = {path: len(messages) for path, messages in found.items()}
    return [
        Figure(
            "database round trips, a user with posts by id (log_statement=all)",
            trips[by_id],
            "",
            "1",
            trips[by_id] == 1,
            "; ".join(found[by_id]),
        ),
        Figure(
            "database round trips, embed page at limit 10 and 500",
            trips[large],
            "",
            "2 at both",
            trips[small] == trips[large] == 2,
            f"{trips[small]} and {trips[large]}",
        ),
    ]


def console_figures(quick: bool) -> list[Figure]:
    """The console's own figures (benchmarks/console.py), on a database of their own."""
    users, rows = (100_000, 2_000) if quick else (1_000_000, 50_000)
    found = measure_console(users, rows, launches=3 if quick else 5)
    figures = []
    if "first_paint_s" in found:
        floor = found["floor_s"]
        floor_detail = f"floor (one word, Textual alone) {floor:.2f} s"
        figures += [
            Figure.ratio(
                "console: launch to first frame, over the floor (embedded, warm data dir)",
                found["first_frame_s"] / floor,
                at_most=1.5,
                detail=f"{found['first_frame_s']:.2f} s; {floor_detail}",
            ),
            Figure.ratio(
                "console: launch to first users row, over the floor (embedded, warm data dir)",
                found["first_paint_s"] / floor,
                at_most=3.0,
                detail=f"{found['first_paint_s']:.2f} s; {floor_detail}",
            ),
        ]
    if "first_paint_external_s" in found:
        paint = found["first_paint_external_s"]
        figures.append(
            Figure(
                "console: launch to first users page (--database-url, PostgreSQL up)",
                paint,
                "s",
                "<= 1.0 s",
                paint <= 1.0,
            )
        )
    rss, rss_paint = found["rss_after_paging_mb"], found["rss_first_paint_mb"]
    figures += [
        Figure(
            f"console: peak RSS after paging {rows:,} rows of {users:,}",
            rss,
            "MB",
            "<= 250 MB and <= 2 x first paint",
            rss <= 250 and rss <= 2 * rss_paint,
            f"{rss_paint:.0f} MB at first paint",
        ),
        Figure(
            f"console: G (last of {users:,}) and g (first)",
            max(found["last_ms"], found["first_ms"]),
            "ms",
            "<= 200 ms each",
            found["last_ms"] <= 200 and found["first_ms"] <= 200,
            f"G {found['last_ms']:.0f} ms, g {found['first_ms']:.0f} ms",
        ),
        Figure(
            f"console: key p95 at row {rows:,}, stream at 200 events/s",
            found["key_p95_streaming_ms"],
            "ms",
            "<= 50 ms",
            found["key_p95_streaming_ms"] <= 50,
            f"at row 0, no stream: {found['key_p95_row0_ms']:.1f} ms",
        ),
    ]
    return figures


def soak_figures(database_url: str, logs: Path, quick: bool) -> list[Figure]:
    """Mixed load on two more backend processes, a subscriber on each (tests/soak.py)."""
    seconds = 5 if quick else 60
    result = asyncio.run(soak(database_url, logs, seconds))
    wrong = result.disagreements()
    statuses = ", ".join(f"{n} x {status}" for status, n in sorted(result.statuses.items()))
    pairs = zip(result.rss_warm, result.rss_final, strict=True)
    return [
        Figure(
            f"soak {seconds} s on two backends: rows, log rows and events agree",
            len(wrong),
            "",
            "0 disagreements",
            not wrong,
            "; ".join(wrong)
            or f"{result.requests} requests ({statuses}); {len(result.log_ids)} events, "
            "all of them to both subscribers",
        ),
        Figure.ratio(
            f"soak {seconds} s: backend RSS at the end / after warm-up",
            result.rss_growth,
            at_most=1.2,
            detail=" and ".join(f"{b / 2**20:.0f} → {a / 2**20:.0f} MB" for b, a in pairs),
        ),
    ]


def bulk_figures(
    cluster: PgCluster, server_url: str, database_url: str, users: int, repetitions: int
) -> list[Figure]:
    pairs = bulk.seed_against_pgbench(cluster, database_url, users, repetitions)
    ratio = median([s.rows_per_second / p.rows_per_second for s, p in pairs])
    seeded = {
        "rows/s": median([s.rows_per_second for s, _ in pairs]),
        "wall": median([s.wall_seconds for s, _ in pairs]),
        "MB/s": median([s.megabytes_per_second for s, _ in pairs]),
    }
    pgbench = {
        "rows/s": median([p.rows_per_second for _, p in pairs]),
        "wall": median([p.wall_seconds for _, p in pairs]),
        "MB/s": median([p.megabytes_per_second for _, p in pairs]),
    }
    megabytes = pairs[-1][0].megabytes, pairs[-1][1].megabytes
    api = f"{server_url}/api/v1"
    first = bulk.page_latency(api, {"limit": 100})
    last = bulk.page_latency(api, {"limit": 100, "after": users - 100})
    newest = bulk.page_latency(api, {"limit": 100, "order": "desc"})
    offset = bulk.offset_latency(database_url, users - 100)
    return [
        Figure.ratio(
            f"bulk seed {users:,} users + {3 * users:,} posts, rows/s "
            f"vs pgbench -i ({pgbench['rows/s']:,.0f}/s)",
            ratio,
            at_least=0.5,
            detail=f"{seeded['rows/s']:,.0f} rows/s; median of {len(pairs)} pairs; "
            f"whole commands {seeded['wall']:.1f} s vs {pgbench['wall']:.1f} s; "
            f"table MB/s {seeded['MB/s']:.0f} vs {pgbench['MB/s']:.0f} "
            f"({megabytes[0]:.0f} MB vs {megabytes[1]:.0f} MB)",
        ),
        Figure.ratio(
            f"last page of {users:,} users (keyset) vs the first ({first:.1f} ms)",
            last / first,
            at_most=1.5,
            detail=f"{last:.1f} ms; newest first {newest:.1f} ms; "
            f"OFFSET in SQL alone {offset:.1f} ms",
        ),
    ]


def browse_figures(server_url: str, database_url: str, backend_pid: int) -> list[Figure]:
    """Every sort order's last page against its first; an export against `psql \\copy`."""
    api = f"{server_url}/api/v1"
    figures = [
        Figure.ratio(
            f"last page vs the first, sort={pages.sort} ({pages.first_ms:.1f} ms)",
            pages.last_ms / pages.first_ms,
            at_most=1.5,
            detail=f"{pages.last_ms:.1f} ms",
        )
        for pages in browse.sorted_pages(api)
    ]
    copied = browse.psql_copy(database_url)
    exported = browse.export_csv(api, backend_pid)
    assert exported.rows == copied.rows, (exported.rows, copied.rows)
    figures += [
        Figure.ratio(
            f"CSV export of {exported.rows:,} users, rows/s vs psql \\copy "
            f"({copied.rows_per_second:,.0f}/s)",
            exported.rows_per_second / copied.rows_per_second,
            at_least=0.5,
            detail=f"{exported.rows_per_second:,.0f} rows/s",
        ),
        Figure(
            f"backend RSS growth exporting {exported.rows:,} users",
            exported.rss_growth_mb,
            "MB",
            "<= 50 MB",
            exported.rss_growth_mb <= 50,
        ),
    ]
    return figures


def read_limit_figures(
    read: dict[str, LoadResult], users: int, limit: str = "limit"
) -> list[Figure]:
    """GET /users/{id} against the limit at `users` users: req/s and p99, as issue 17 asks."""
    ours, peer = read["stackdeck"], read[limit]
    return [
        Figure.ratio(
            f"GET /users/{{id}} req/s vs the limit at {users:,} users ({peer.rps:.0f}/s)",
            ours.rps / peer.rps,
            at_least=0.6,
            detail=f"{ours.rps:.0f}/s; wrk -c32",
        ),
        Figure.ratio(
            f"GET /users/{{id}} p99 at 32 clients vs the limit's at {users:,} users "
            f"({peer.p99_ms:.1f} ms)",
            ours.p99_ms / peer.p99_ms,
            at_most=1.5,
            detail=f"{ours.p99_ms:.1f} ms",
        ),
    ]


def small_read_figures(cluster: PgCluster, logs: Path, quick: bool) -> list[Figure]:
    """The same by-id reads on a database of 200 users (3 posts each): a backend and a limit
    of their own, so the figure is the per-request work, not the cache misses of a large table."""
    seconds, repetitions = (3.0, 2) if quick else (10.0, 3)
    users = 200
    name = asyncio.run(create_migrated_template(cluster))
    small = cluster.url_for(name)
    try:
        bulk.seed(small, users, posts_per_user=3)
        bulk.vacuum(small)
        with backend(small, logs) as server, http.peer("limit", small, logs) as limit:
            ours = http.Target("stackdeck", server.url)
            read = http.measure(
                {t.name: (t, "/api/v1/users/{id}") for t in (ours, limit)},
                seconds,
                repetitions,
                (1, users),
            )
    finally:
        asyncio.run(cluster.drop_database(name))
    return read_limit_figures(read, users)


def http_figures(
    server_url: str, database_url: str, logs: Path, users: int, quick: bool
) -> list[Figure]:
    seconds, repetitions = (3.0, 2) if quick else (10.0, 3)
    by_id = "/api/v1/users/{id}"
    page = "/api/v1/users?limit=100&embed=posts"
    ours = http.Target("stackdeck", server_url)
    with (
        http.peer("limit", database_url, logs) as limit,
        http.peer("naive", database_url, logs) as naive,
    ):
        read = http.measure(
            {t.name: (t, by_id) for t in (ours, limit, naive)}, seconds, repetitions, (1, users)
        )
        pages = http.measure(
            {
                ours.name: (ours, page),
                limit.name: (limit, page.replace("&embed=posts", "")),
            },
            seconds,
            repetitions,
            None,
        )
    figures = [
        *read_limit_figures(read, users),
        Figure.ratio(
            f"GET /users/{{id}} req/s vs the naive peer ({read['naive'].rps:.0f}/s)",
            read["stackdeck"].rps / read["naive"].rps,
            at_least=2,
        ),
        Figure.ratio(
            f"GET /users?limit=100&embed=posts req/s vs the limit ({pages['limit'].rps:.0f}/s)",
            pages["stackdeck"].rps / pages["limit"].rps,
            at_least=0.5,
            detail=f"{pages['stackdeck'].rps:.0f}/s",
        ),
    ]
    api = f"{server_url}/api/v1"
    counts = [http.statements(api, f"/users?limit={n}&embed=posts") for n in (10, 500)]
    figures.append(
        Figure(
            "SQL statements, embed page at limit 10 and 500",
            counts[1],
            "",
            "exactly 2 at both",
            counts == [2, 2],
            f"{counts[0]} and {counts[1]}",
        )
    )
    one = http.statements(api, "/users/1")
    figures.append(Figure("SQL statements, a user with posts by id", one, "", "1", one == 1))
    failed = {
        f"{figure} {name}": r.non_2xx + r.errors
        for figure, results in (("by id", read), ("page", pages))
        for name, r in results.items()
        if r.non_2xx + r.errors
    }
    if failed:
        figures.append(
            Figure(
                "failed requests under load",
                sum(failed.values()),
                "",
                "0",
                False,
                ", ".join(f"{where}: {n}" for where, n in failed.items()),
            )
        )
    return figures


def write_figures(server_url: str, database_url: str, logs: Path, quick: bool) -> list[Figure]:
    """POST /users against the write limit, X-ray on and off (benchmarks/writes.py)."""
    runs = writes.against_the_limit(http.Target("on", server_url), database_url, logs, quick)
    figures = []
    for xray_state in ("on", "off"):
        ours, limit = runs[xray_state], runs[f"limit {xray_state}"]
        p99 = median([r.p99_ms for r in ours]), median([r.p99_ms for r in limit])
        figures.append(
            Figure.ratio(
                f"POST /users writes/s vs the write limit, X-ray {xray_state} "
                f"({median([r.rps for r in limit]):.0f}/s)",
                writes.paired_ratio(ours, limit),
                at_least=0.5,
                detail=f"{median([r.rps for r in ours]):.0f}/s; "
                f"p99 {p99[0]:.1f} ms vs {p99[1]:.1f} ms; wrk -c32, a new email each",
            )
        )
    failed = {
        name: sum(r.non_2xx + r.errors for r in results)
        for name, results in runs.items()
        if any(r.non_2xx + r.errors for r in results)
    }
    if failed:
        figures.append(
            Figure(
                "failed writes under load",
                sum(failed.values()),
                "",
                "0",
                False,
                ", ".join(f"{name}: {n}" for name, n in failed.items()),
            )
        )
    return figures


def standby_figures(
    cluster: PgCluster, database_url: str, logs: Path, users: int, quick: bool
) -> list[Figure]:
    name = "GET /users/{id} req/s served by the standby vs by the primary"
    if cluster.embedded is None:
        return [Figure(name, 0, "", "-", None, "external server: no standby made")]
    primary, standby = topology.on_standby(cluster, database_url, logs, users, quick)
    failed = sum(r.non_2xx + r.errors for r in (primary, standby))
    ratio = standby.rps / primary.rps
    return [
        Figure(
            f"{name} ({primary.rps:.0f}/s)",
            ratio,
            "x",
            ">= 0.8, no failed request",
            ratio >= 0.8 and not failed,
            f"{standby.rps:.0f}/s, p99 {standby.p99_ms:.1f} ms vs {primary.p99_ms:.1f} ms"
            + (f"; {failed} failed" if failed else ""),
        )
    ]


def topology_figures(
    cluster: PgCluster, server_url: str, database_url: str, logs: Path, users: int, quick: bool
) -> list[Figure]:
    direct, bounced = topology.through_pgbouncer(
        cluster, http.Target("direct", server_url), database_url, logs, users, quick
    )
    return [
        Figure.ratio(
            f"GET /users/{{id}} req/s through PgBouncer (transaction mode) vs direct "
            f"({direct.rps:.0f}/s)",
            bounced.rps / direct.rps,
            at_least=0.5,
            detail=f"{bounced.rps:.0f}/s, p99 {bounced.p99_ms:.1f} ms vs {direct.p99_ms:.1f} ms"
            + (f"; {failed} failed" if (failed := bounced.non_2xx + bounced.errors) else ""),
        )
    ]


def workers_figures(
    server_url: str, database_url: str, logs: Path, users: int, quick: bool
) -> list[Figure]:
    """Reads by id from `serve --workers 2` against the one-process backend, taking turns."""
    seconds, repetitions = (3.0, 2) if quick else (10.0, 3)
    by_id = "/api/v1/users/{id}"
    one = http.Target("1 worker", server_url)
    with backend(database_url, logs, args=("--workers", "2")) as server:
        two = http.Target("2 workers", server.url)
        read = http.measure(
            {t.name: (t, by_id) for t in (one, two)}, seconds, repetitions, (1, users)
        )
    ratio = read[two.name].rps / read[one.name].rps
    failed = sum(r.non_2xx + r.errors for r in read.values())
    # On two cores wrk and PostgreSQL share them with the workers; more cores, more gain.
    goal = 1.3
    return [
        Figure(
            f"GET /users/{{id}} req/s, --workers 2 vs --workers 1 ({read[one.name].rps:.0f}/s)",
            ratio,
            "x",
            f">= {goal:g}, no failed request",
            ratio >= goal and not failed,
            f"{read[two.name].rps:.0f}/s; p99 {read[two.name].p99_ms:.1f} vs "
            f"{read[one.name].p99_ms:.1f} ms" + (f"; {failed} failed requests" if failed else ""),
        )
    ]


def xray_figures(
    server_url: str, database_url: str, logs: Path, users: int, quick: bool
) -> list[Figure]:
    (read_on, read_off), (write_on, write_off) = xray.xray_overhead(
        http.Target("xray on", server_url), database_url, logs, users, quick
    )
    return [
        Figure.ratio(
            f"GET /users/{{id}} req/s, X-ray on vs off ({read_off.rps:.0f}/s)",
            read_on.rps / read_off.rps,
            at_least=0.95,
            detail=f"{read_on.rps:.0f}/s",
        ),
        Figure.ratio(
            f"POST /users writes/s, X-ray on vs off ({write_off:.0f}/s)",
            write_on / write_off,
            at_least=0.95,
            detail=f"{write_on:.0f}/s",
        ),
    ]


def vacuum_figures(database_url: str) -> list[Figure]:
    bulk.vacuum(database_url)
    return []


def timed(out: Console, name: str, measure: Callable[[], list[Figure]]) -> list[Figure]:
    started = time.perf_counter()
    figures = measure()
    out.print(f"[dim]{name}: {time.perf_counter() - started:.0f} s[/dim]")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(prog="just bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (under 2 minutes)")
    parser.add_argument(
        "--peers", action="store_true", help="then harlequin and sqlit-tui (benchmarks/tui_peers)"
    )
    parser.add_argument(
        "--only",
        metavar="SECTION,...",
        help="run only these sections (by the names it prints), after the seed they read",
    )
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    console = Console()
    figures: list[Figure] = []
    users = 100_000 if args.quick else 1_000_000
    with (
        database() as (cluster, url),
        tempfile.TemporaryDirectory() as logs,
        backend(url, Path(logs)) as server,
    ):
        console.print(f"[dim]backend {server.url}; seeding {users:,} users[/dim]")
        sections: list[tuple[str, Callable[[], list[Figure]]]] = [
            (
                "bulk seed",
                lambda: bulk_figures(
                    cluster, server.url, url, users, repetitions=1 if args.quick else 3
                ),
            ),
            # What pgbench -i does after its load: measure a settled database, not one that
            # autovacuum is about to rescan beside the load generator.
            ("vacuum", lambda: vacuum_figures(url)),
            ("browse", lambda: browse_figures(server.url, url, server.process.pid)),
            ("HTTP", lambda: http_figures(server.url, url, Path(logs), users, args.quick)),
            ("HTTP at 200 users", lambda: small_read_figures(cluster, Path(logs), args.quick)),
            ("writes", lambda: write_figures(server.url, url, Path(logs), args.quick)),
            ("workers", lambda: workers_figures(server.url, url, Path(logs), users, args.quick)),
            ("round trips", lambda: round_trip_figures(cluster, url, Path(logs))),
            ("x-ray", lambda: xray_figures(server.url, url, Path(logs), users, args.quick)),
            (
                "topology",
                lambda: topology_figures(cluster, server.url, url, Path(logs), users, args.quick),
            ),
            ("standby", lambda: standby_figures(cluster, url, Path(logs), users, args.quick)),
            ("stream", lambda: stream_figures(f"{server.url}/api/v1", users, args.quick)),
            ("soak", lambda: soak_figures(url, Path(logs), args.quick)),
        ]
        for name, measure in sections:
            if only is None or name in only:
                figures += timed(console, name, measure)
            elif name == "bulk seed":  # every other section reads what it seeds
                bulk.seed(url, users, posts_per_user=3)
                bulk.vacuum(url)
    if only is None or "console" in only:
        figures += timed(console, "console", lambda: console_figures(args.quick))

    table = Table(title="stackdeck benchmarks" + (" (quick)" if args.quick else ""))
    for column in ("figure", "value", "goal", "result", "detail"):
        table.add_column(column)
    for f in figures:
        verdict = "-" if f.passed is None else ("[green]PASS" if f.passed else "[red]MISS")
        value = f"{f.value:.2f} {f.unit}" if f.unit else f"{f.value:g}"
        table.add_row(f.name, value, f.goal, verdict, f.detail)
    console.print(table)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {platform.processor() or ''} "
                f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}",
                "quick": args.quick,
                "figures": [asdict(f) for f in figures],
            },
            indent=2,
        )
    )
    console.print(f"[dim]written to {RESULTS}[/dim]")
    if args.peers:
        from benchmarks import tui_peers

        tui_peers.run(users, 1 if args.quick else 3, console=console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

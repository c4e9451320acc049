"""`just bench [--quick]`: run the benchmarks, print a table, write benchmarks/results.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks import stream
from benchmarks.harness import backend, database, median

RESULTS = Path(__file__).with_name("results.json")


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: str
    passed: bool | None
    detail: str = ""


def stream_figures(api: str, quick: bool) -> list[Figure]:
    seconds = 5.0 if quick else 15.0
    result = asyncio.run(stream.latency(api, subscribers=20, rate=200, seconds=seconds))
    repetitions = 1 if quick else 3
    alone, with_readers = [], []
    for _ in range(repetitions):
        alone.append(asyncio.run(stream.writer_throughput(api, 0, seconds=3)))
        with_readers.append(asyncio.run(stream.writer_throughput(api, 20, seconds=3)))
    ratio = median(with_readers) / median(alone)
    complete = result["delivered_to_each"] == result["writes"]
    return [
        Figure(
            "SSE commit-to-event p50, 200 writes/s, 20 subscribers",
            result["p50_ms"],
            "ms",
            "-",
            None,
        ),
        Figure(
            "SSE commit-to-event p99, 200 writes/s, 20 subscribers",
            result["p99_ms"],
            "ms",
            "<= 50 ms, every event to every subscriber",
            result["p99_ms"] <= 50 and complete,
            f"{result['delivered_to_each']}/{result['writes']} events to each subscriber",
        ),
        Figure(
            "writer throughput with 20 subscribers / with none",
            ratio,
            "x",
            ">= 0.9",
            ratio >= 0.9,
            f"{median(with_readers):.0f}/s vs {median(alone):.0f}/s",
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(prog="just bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (under 2 minutes)")
    args = parser.parse_args()
    console = Console()
    figures: list[Figure] = []
    with (
        database() as (_, url),
        tempfile.TemporaryDirectory() as logs,
        backend(url, Path(logs)) as server,
    ):
        console.print(f"[dim]backend {server.url}, database {url.split('@')[-1]}[/dim]")
        figures += stream_figures(f"{server.url}/api/v1", args.quick)

    table = Table(title="stackdeck benchmarks" + (" (quick)" if args.quick else ""))
    for column in ("figure", "value", "goal", "result", "detail"):
        table.add_column(column)
    for f in figures:
        verdict = "-" if f.passed is None else ("[green]PASS" if f.passed else "[red]MISS")
        table.add_row(f.name, f"{f.value:.2f} {f.unit}", f.goal, verdict, f.detail)
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

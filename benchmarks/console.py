"""The console's figures (issue 5): first paint, memory while paging, key latency under a stream.

`python -m benchmarks.console [--users N] [--rows R] [--quick]` prints a table and writes
benchmarks/console-results.json:

- launch → first frame and → first users row: `stackdeck` in tmux on a warm embedded data
  dir, timed from the spawn until capture-pane shows its panes, then its first row, each
  launch after one of the floor (the smallest Textual app, benchmarks/floor_app.py; medians
  of 3, 5 in a full run); and the first row with `--database-url` to that PostgreSQL left
  running (the console starts none);
- peak RSS of the console process after paging through R rows of N users (the console runs in
  a child process of its own against a backend process, so the figure is the console's alone);
- `G` and `g` (last and first rows) on N users;
- key-press handling p95 at row R while a writer process commits 200 writes/s that the stream
  delivers, beside the same at row 0 with no stream traffic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from textual import events

RESULTS = Path(__file__).with_name("console-results.json")
STACKDECK = Path(sys.executable).parent / "stackdeck"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if values else 0.0


# -- seeding through the product's batch path ---------------------------------------------------


async def seed(api: str, users: int, concurrency: int = 4) -> None:
    async with httpx.AsyncClient(base_url=api, timeout=120) as client:
        existing = (await client.get("/users/count")).json()["total"]
        if existing >= users:
            return
        tag = uuid.uuid4().hex[:6]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for start in range(existing, users, 1000):
            queue.put_nowait(start)

        async def worker() -> None:
            while not queue.empty():
                start = queue.get_nowait()
                batch = [
                    {"name": f"User {n}", "email": f"u{n}-{tag}@example.com", "posts": []}
                    for n in range(start, min(users, start + 1000))
                ]
                response = await client.post("/users/batch", json={"users": batch})
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


# -- launch to first paint, in a real terminal ------------------------------------------------


def _launch(
    tmux: list[str], env: dict[str, str], command: str, marks: tuple[str, ...]
) -> list[float]:
    """Spawn `command` in a fresh tmux session: the seconds until each mark is on screen, in
    order; then quit it with q and wait until it has gone."""
    started = time.perf_counter()
    window = ["-x", "160", "-y", "45"]
    shell = f"{command}; echo console-exited; sleep 30"
    subprocess.run([*tmux, "new-session", "-d", "-s", "b", *window, shell], env=env, check=True)
    seen: list[float] = []
    try:
        while len(seen) < len(marks):
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True
            ).stdout
            while len(seen) < len(marks) and marks[len(seen)] in screen:
                seen.append(time.perf_counter() - started)
            if time.perf_counter() - started > 60:
                raise TimeoutError(screen)
            time.sleep(0.005)
        subprocess.run([*tmux, "send-keys", "-t", "b", "q"], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", "b"], capture_output=True, text=True
            ).stdout
            if "console-exited" in screen:
                break
            time.sleep(0.1)
    finally:
        subprocess.run([*tmux, "kill-session", "-t", "b"], capture_output=True)
    return seen


def byte_compile() -> None:
    """The package's modules compiled, as pip leaves them when it installs the wheel: a
    checkout run under PYTHONDONTWRITEBYTECODE (as these machines set it) would compile every
    one of them from source on each launch (about 40 ms of the backend's start, measured)."""
    import compileall

    from tests.processes import REPO_ROOT

    for part in ("stackdeck", "backend", "tui", "migrations"):
        compileall.compile_dir(REPO_ROOT / part, quiet=1)


def first_paint(repetitions: int) -> dict[str, float]:
    """Launches of `stackdeck` on a warm data dir, each after one of the floor (the smallest
    Textual app, benchmarks/floor_app.py) in the same terminal: medians of the floor's word,
    the console's first frame (its panes) and its first users row; then launches with
    `--database-url` to a PostgreSQL already running (the console starts none)."""
    from alembic import command

    from stackdeck.backend.db.embedded import EmbeddedPostgres
    from stackdeck.backend.launcher import BackendThread
    from stackdeck.backend.settings import Settings
    from tests.pg import alembic_config

    byte_compile()
    floor, frame, row, external = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="stackdeck-paint-") as tmp:
        data_dir = Path(tmp) / "data"
        warm = BackendThread(Settings(_env_file=None, data_dir=data_dir))
        warm.start()
        command.upgrade(alembic_config(warm.settings.database_url_value() or ""), "head")
        asyncio.run(seed(warm.url, 1000))
        warm.stop()
        kept = EmbeddedPostgres(data_dir)  # up for the launches that start no PostgreSQL
        env = {k: v for k, v in os.environ.items() if not k.startswith("STACKDECK_")}
        env.update({"STACKDECK_DATA_DIR": str(data_dir), "TERM": "xterm-256color"})
        tmux = ["tmux", "-L", f"stackdeck-bench-{uuid.uuid4().hex[:6]}"]
        floor_app = f"{sys.executable} -m benchmarks.floor_app"
        # A session of its own keeps the tmux server up between launches: a launch's new
        # session could otherwise reach the server its predecessor's kill was shutting down.
        # (Started with `env`: the server's environment is every later session's.)
        subprocess.run(
            [*tmux, "new-session", "-d", "-s", "keep", "sleep 3600"], env=env, check=True
        )
        try:
            for _ in range(repetitions):
                [word] = _launch(tmux, env, floor_app, ("floor",))
                panes, first_row = _launch(tmux, env, str(STACKDECK), ("Users", "u0-"))
                floor.append(word)
                frame.append(panes)
                row.append(first_row)
            options = f" --database-url '{kept.start()}'"
            for _ in range(repetitions):
                external += _launch(tmux, env, f"{STACKDECK}{options}", ("u0-",))
        finally:
            subprocess.run([*tmux, "kill-server"], capture_output=True)
            kept.stop()
    return {
        "floor_s": percentile(floor, 50),
        "first_frame_s": percentile(frame, 50),
        "first_paint_s": percentile(row, 50),
        "first_paint_external_s": percentile(external, 50),
    }


# -- the console in a child process: paging, G/g, key latency ------------------------------------


async def child(api: str, rows: int, stream_writer: list[str]) -> dict[str, Any]:
    from stackdeck.tui.app import StackdeckApp
    from stackdeck.tui.client import ApiClient

    app = StackdeckApp(ApiClient(api))
    result: dict[str, Any] = {}

    def idle() -> bool:
        return all(w.is_finished or w.group in ("tx-stream", "recover") for w in app.workers)

    async def settle(pilot: Any, check: Any = lambda: True, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while not (idle() and check()):
            if time.monotonic() > deadline:
                raise TimeoutError("console did not settle")
            await pilot.pause(0.005)

    async def key_ms(key: str) -> float:
        """From the key event posted to the cursor moved: the time the key takes to handle."""
        table = app.users.table
        before = table.cursor_row
        started = time.perf_counter()
        app.post_message(events.Key(key, None))
        while table.cursor_row == before:
            if time.perf_counter() - started > 5:
                break
            await asyncio.sleep(0.0005)
        return (time.perf_counter() - started) * 1000

    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot, lambda: bool(app.users.window.rows))
        result["rss_first_paint_mb"] = rss_mb()
        samples: list[float] = []
        for _ in range(100):
            samples.append(await key_ms("down"))
            await asyncio.sleep(0.02)
        result["key_p95_row0_ms"] = percentile(samples, 95)
        await pilot.press("g")
        await settle(pilot)
        app.users.table.focus()
        started = time.perf_counter()
        while (app.users.window.last_id or 0) < rows and not app.users.window.at_end:
            await pilot.press("pagedown")
            await settle(pilot)
        result["paging_seconds"] = time.perf_counter() - started
        result["rss_after_paging_mb"] = rss_mb()
        result["window_rows"] = len(app.users.window)
        writer = await asyncio.create_subprocess_exec(*stream_writer) if stream_writer else None
        try:
            await asyncio.sleep(1.0)
            before = app.transactions.totals["committed"]
            samples = []
            for n in range(200):
                samples.append(await key_ms("down" if n % 2 == 0 else "up"))
                await asyncio.sleep(0.02)
            result["key_p95_streaming_ms"] = percentile(samples, 95)
            result["events_seen"] = app.transactions.totals["committed"] - before
        finally:
            if writer is not None:
                if writer.returncode is None:
                    writer.terminate()
                await writer.wait()
        window = app.users.window

        def at_last() -> bool:
            return window.at_end and app.users.table.cursor_row == len(window) - 1

        def at_first() -> bool:
            return window.at_start and app.users.table.cursor_row == 0

        for key, name, done in (("G", "last_ms", at_last), ("g", "first_ms", at_first)):
            await settle(pilot)
            started = time.perf_counter()
            app.post_message(events.Key(key, key))
            # Until the rows are in the table and the cursor is on the end row.
            while not (done() and not app.users.loading):  # noqa: ASYNC110 (polling the UI)
                await asyncio.sleep(0.0005)
            result[name] = (time.perf_counter() - started) * 1000
    return result


async def writer(api: str, rate: int, seconds: float) -> None:
    """Commit `rate` user creations per second (as a separate process)."""
    tag = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=api, timeout=10, limits=limits) as client:

        async def post(body: dict[str, str]) -> None:
            # A dropped write only thins the stream; the figure measured is the console's.
            with contextlib.suppress(httpx.HTTPError):
                await client.post("/users", json=body)

        started = time.perf_counter()
        n = 0
        pending: set[asyncio.Task[None]] = set()
        while time.perf_counter() - started < seconds:
            due = started + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            body = {"name": f"W {n}", "email": f"w{n}-{tag}@example.com"}
            task = asyncio.create_task(post(body))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        await asyncio.gather(*pending)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="100k users, 2k rows, 1 launch")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        asyncio.run(writer(args.writer, 200, 60))
        return 0
    if args.child:
        stream_writer = [sys.executable, "-m", "benchmarks.console", "--writer", args.child]
        print(json.dumps(asyncio.run(child(args.child, args.rows, stream_writer))))
        return 0
    if args.quick:
        args.users, args.rows = 100_000, 2_000
    try:
        figures = measure(args.users, args.rows, launches=3 if args.quick else 5)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    table = Table(title="stackdeck console")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("goal")
    goals = {
        "floor_s": "the floor: the smallest Textual app",
        "first_frame_s": "≤ 1.5 × floor",
        "first_paint_s": "≤ 3.0 × floor (embedded, warm)",
        "first_paint_external_s": "≤ 1.0 s (--database-url, PostgreSQL up)",
        "rss_after_paging_mb": "≤ 250 MB and ≤ 2 × first paint",
        "key_p95_streaming_ms": "≤ 50 ms",
        "last_ms": "≤ 200 ms",
        "first_ms": "≤ 200 ms",
    }
    for key, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        table.add_row(key, shown, goals.get(key, ""))
    Console().print(table)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def measure(users: int, rows: int, launches: int) -> dict[str, Any]:
    """Every console figure: first paint (when tmux is here), then paging, G/g and keys."""
    from benchmarks.harness import backend, database

    figures: dict[str, Any] = {"users": users, "rows": rows}
    if shutil.which("tmux"):
        figures.update(first_paint(launches))
    with (
        database() as (_, url),
        tempfile.TemporaryDirectory() as logs,
        backend(url, Path(logs)) as server,
    ):
        api = f"{server.url}/api/v1"
        started = time.perf_counter()
        # The product's bulk path (COPY); 1,000,000 users take seconds, not minutes.
        subprocess.run(
            [
                str(STACKDECK),
                "seed",
                "--users",
                str(users),
                "--posts-per-user",
                "1",
                "--database-url",
                url,
            ],
            check=True,
            capture_output=True,
        )
        figures["seed_seconds"] = time.perf_counter() - started
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks.console", "--child", api, "--rows", str(rows)],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-4000:])
        figures.update(json.loads(run.stdout.strip().splitlines()[-1]))
    return figures


if __name__ == "__main__":
    sys.exit(main())

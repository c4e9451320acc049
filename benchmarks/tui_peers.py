"""stackdeck beside harlequin and sqlit-tui in tmux, on one database: first rows, peak RSS, caps.

`python -m benchmarks.tui_peers [--quick]` (or `just bench --peers`) installs the peers into a
throwaway directory (one venv each: harlequin pins a Textual stack the newest sqlit-tui does
not run on), starts a PostgreSQL with N users seeded by `stackdeck seed` (1,000,000; quick:
100,000), and drives each tool in tmux as a user would:

- a peer: launch, wait until it is connected, type `SELECT * FROM users`, press its run key and
  time from that key until capture-pane shows data rows; stackdeck: launch with
  `--database-url` and time until the users pane paints its first page (no key needed);
- peak RSS (VmHWM summed over the tool's process tree under the pane) once the result is on
  screen, and again after paging down and jumping to the last row;
- what the tool says it holds (the peers cap a result at 100,000 rows by default).

A tool that cannot be driven gets a "not measured: <reason>" row. Prints a table and writes
benchmarks/peers-results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import URL, make_url

from benchmarks.bulk import vacuum
from benchmarks.harness import median

RESULTS = Path(__file__).with_name("peers-results.json")
STACKDECK = Path(sys.executable).parent / "stackdeck"
QUERY = "SELECT * FROM users"
# A seeded user's email: on screen only once rows are painted (stackdeck's banner shows a
# masked URL, `postgres:***@/db`, which this does not match).
DATA_ROW = re.compile(r"[\w.+-]+@[\w-]+\.[a-z]{2,}")
PAGE_DOWNS = 50


class NotDriven(Exception):
    """The tool could not be driven to the figure; the message says why, in one line."""


@dataclass(frozen=True)
class Target:
    """Where the database is, in the shapes the tools take it."""

    host: str  # a host name, or the directory of a unix socket
    port: int
    database: str
    user: str
    password: str
    url: str  # the SQLAlchemy URL stackdeck takes

    @classmethod
    def from_url(cls, url: str) -> Target:
        parsed = make_url(url)
        host = parsed.query.get("host") or parsed.host or "localhost"
        return cls(
            host=str(host[0] if isinstance(host, tuple) else host),
            port=parsed.port or 5432,
            database=parsed.database or "postgres",
            user=parsed.username or "postgres",
            password=parsed.password or "",
            url=url,
        )

    @property
    def libpq_url(self) -> str:
        """Without the password: that reaches libpq through a password file (`pgpass`)."""
        url = make_url(self.url)
        bare = URL.create("postgresql", url.username, None, url.host, url.port, url.database)
        return bare.update_query_dict(dict(url.query)).render_as_string(False)

    def pgpass(self, directory: Path) -> dict[str, str]:
        """The environment that gives libpq the password, kept off every command line."""
        if not self.password:
            return {}

        def field(value: str) -> str:
            return value.replace("\\", "\\\\").replace(":", "\\:")

        path = directory / "pgpass"
        path.touch(mode=0o600)  # libpq ignores a password file others can read
        path.write_text(f"*:*:*:{field(self.user)}:{field(self.password)}\n")
        return {"PGPASSFILE": str(path)}


@dataclass(frozen=True)
class Step:
    """Send keys (or type text literally), then wait until `until` is on the screen."""

    send: tuple[str, ...]
    until: str
    literal: bool = False
    again: bool = False  # send again every 2 s until it shows (an Escape may only close a popup)


@dataclass(frozen=True)
class Tool:
    name: str
    requirements: tuple[str, ...]  # pip specs for its throwaway venv; () for stackdeck itself
    distribution: str  # whose version to report
    argv: Callable[[Path, Target], list[str]]  # (venv bin dir, target) -> the command
    ready: Callable[[str, Target], bool]  # connected and waiting for input
    query: tuple[Step, ...] = ()  # () for stackdeck: its first page needs no key
    run_key: str = ""
    focus_results: tuple[str, ...] = ()
    end_key: str = "G"
    held: re.Pattern[str] = re.compile(r"$^")  # what the screen says about the rows it holds
    note: str = ""


def _harlequin(bin_dir: Path, target: Target) -> list[str]:
    return [str(bin_dir / "harlequin"), "-a", "postgres", "--no-write-history", target.libpq_url]


def _sqlit(bin_dir: Path, target: Target) -> list[str]:
    # sqlit's URL form drops a unix-socket host; its flags keep it (psycopg2 takes a directory).
    return [
        str(bin_dir / "sqlit"),
        "--db-type",
        "postgresql",
        f"--server={target.host}",
        f"--port={target.port}",
        f"--database={target.database}",
        f"--username={target.user}",
        # Empty: it does not ask for one, and libpq reads the password file.
        "--password=",
    ]


def _stackdeck(bin_dir: Path, target: Target) -> list[str]:
    return [str(STACKDECK)]  # on STACKDECK_DATABASE_URL (as --database-url, but off `ps`)


STACKDECK_TOOL = Tool(
    name="stackdeck",
    requirements=(),
    distribution="stackdeck",
    argv=_stackdeck,
    ready=lambda screen, _: DATA_ROW.search(screen) is not None,
    held=re.compile(r"ids [\d,]+–[\d,]+ · [\d,]+ users"),
    note="launch to first page (keyset pages of 100); backend in the same process",
)
PEERS = (
    Tool(
        name="harlequin",
        requirements=("harlequin", "harlequin-postgres"),
        distribution="harlequin",
        argv=_harlequin,
        ready=lambda screen, target: target.database in screen and "Query Editor" in screen,
        query=(Step((QUERY,), until=QUERY, literal=True),),
        run_key="C-j",  # ctrl+j (or ctrl+enter) runs the query
        focus_results=("F5",),
        end_key="C-End",
        held=re.compile(r"Query Results \(([^)]*)\)"),
    ),
    Tool(
        name="sqlit-tui",
        requirements=("sqlit-tui[postgres]",),  # the extra brings its driver, psycopg2-binary
        distribution="sqlit-tui",
        argv=_sqlit,
        ready=lambda screen, _: "Connected to" in screen,
        query=(
            Step(("q",), until="Insert Mode: i"),  # the query pane, in NORMAL mode
            Step(("i",), until="INSERT"),
            Step((QUERY,), until=QUERY, literal=True),
            # Back to NORMAL mode, where Enter runs the query.
            Step(("Escape",), until="Execute: <enter>", again=True),
        ),
        run_key="Enter",
        focus_results=("r",),
        end_key="G",
        # "100000+ rows": it stopped there and knows there are more.
        held=re.compile(r"Query returned (\d+\+? rows)"),
    ),
)


@dataclass
class Sample:
    launch_s: float  # spawn to ready (stackdeck: to first rows painted)
    query_s: float | None  # run key to first rows painted
    rss_result_mb: float
    rss_paged_mb: float | None
    held: str
    last_row: str = ""  # the bottom row on screen after the jump to the last one


@dataclass
class Row:
    tool: str
    version: str = ""
    launch_s: float | None = None
    query_s: float | None = None
    rss_result_mb: float | None = None
    rss_paged_mb: float | None = None
    held: str = ""
    samples: list[dict[str, object]] = field(default_factory=list)
    note: str = ""


# -- tmux -----------------------------------------------------------------------------------------


class Tmux:
    """One private tmux server (its own socket); every wait has a deadline."""

    def __init__(self) -> None:
        self.socket = f"stackdeck-peers-{uuid.uuid4().hex[:8]}"
        self.session = ""
        self.server_pid = 0
        self.socket_path = ""

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=15
        )
        return result.stdout

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.session = f"s{uuid.uuid4().hex[:6]}"
        settings = [f"-e{key}={value}" for key, value in env.items()]
        # The echo and sleep keep the pane (and the tool's last words) after it exits.
        command = f"{shlex.join(argv)}; echo '[exited]'; sleep 600"
        session = ["-s", self.session, "-x", "160", "-y", "45", "-c", str(cwd)]
        subprocess.run(
            ["tmux", "-L", self.socket, "new-session", "-d", *session, *settings, command],
            check=True,
            timeout=15,
            env={**os.environ, **env},
        )
        if not self.server_pid:
            found = self("display", "-p", "#{pid} #{socket_path}").split(maxsplit=1)
            self.server_pid, self.socket_path = int(found[0]), found[1].strip()

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def send(self, *keys: str, literal: bool = False) -> None:
        self("send-keys", "-t", self.session, *(["-l"] if literal else []), *keys)

    def pane_pid(self) -> int:
        return int(self("display", "-p", "-t", self.session, "#{pane_pid}").strip())

    def wait_for(self, check: Callable[[str], bool], within: float, what: str) -> str:
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if "[exited]" in screen:
                raise NotDriven(f"exited while waiting for {what}: {last_words(screen)}")
            if time.monotonic() > deadline:
                raise NotDriven(f"no {what} within {within:g} s: {last_words(screen)}")
            time.sleep(0.01)

    def wait_rows_settled(self, before: str, within: float, quiet: float = 1.0) -> str:
        """Until the rows on screen differ from those in `before` and stay put for `quiet` s.

        Only the rows count: a status line or a live pane may change all the time.
        """

        def rows(screen: str) -> list[str]:
            return DATA_ROW.findall(screen)

        deadline = time.monotonic() + within
        screen = self.wait_for(lambda s: rows(s) != rows(before), within, "rows to change")
        last, since = rows(screen), time.monotonic()
        while time.monotonic() - since < quiet:
            if time.monotonic() > deadline:
                raise NotDriven(f"rows never settled within {within:g} s")
            time.sleep(0.05)
            screen = self.screen()
            if rows(screen) != last:
                last, since = rows(screen), time.monotonic()
        return screen

    def stop_session(self) -> None:
        """End the session and make sure the tool's processes are gone before the next run."""
        if not self.session:
            return
        try:
            tree = psutil.Process(self.pane_pid()).children(recursive=True)
        except (ValueError, psutil.Error):
            tree = []
        self("kill-session", "-t", self.session)  # SIGHUP, which sqlit-tui ignores
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(tree, timeout=5)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        self.session = ""

    def kill_server(self) -> None:
        self.stop_session()
        self("kill-server")
        # By its pid too: a server whose socket file was removed no longer hears kill-server.
        with contextlib.suppress(psutil.Error):
            server = psutil.Process(self.server_pid) if self.server_pid else None
            if server and self.socket not in " ".join(server.cmdline()):
                server = None  # the pid is someone else's now
            left = [server, *server.children(recursive=True)] if server else []
            for process in left:
                with contextlib.suppress(psutil.Error):
                    process.kill()
        if self.socket_path:  # tmux leaves the socket file behind
            Path(self.socket_path).unlink(missing_ok=True)


def shows(text: str) -> Callable[[str], bool]:
    return lambda screen: text in screen


def last_words(screen: str) -> str:
    lines = [line.strip() for line in screen.splitlines() if line.strip()]
    return " | ".join(lines[-3:])[:300] or "(blank screen)"


def peak_rss_mb(pane_pid: int) -> float:
    """Peak resident set (VmHWM) summed over every process of the tool under the pane's shell."""
    total_kb = 0
    for process in psutil.Process(pane_pid).children(recursive=True):
        try:
            if process.name() == "sleep":
                continue
            status = Path(f"/proc/{process.pid}/status").read_text()
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            total_kb += int(match.group(1)) if match else process.memory_info().rss // 1024
        except (OSError, psutil.Error):
            continue  # a helper process that has just exited
    return total_kb / 1024


# -- one tool -----------------------------------------------------------------------------------


def install(tool: Tool, root: Path) -> Path:
    """The tool's own venv under `root` (reused when it is already there); returns its bin dir."""
    venv = root / tool.name
    bin_dir = venv / "bin"
    if not (bin_dir / "python").exists():
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120
        )
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    result = subprocess.run([*pip, *tool.requirements], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
        raise NotDriven(f"pip install failed: {(errors or ['?'])[-1][:200]}")
    return bin_dir


def version(tool: Tool, bin_dir: Path | None) -> str:
    if bin_dir is None:
        try:
            return importlib.metadata.version(tool.distribution)
        except importlib.metadata.PackageNotFoundError:
            return ""
    code = f"import importlib.metadata as m; print(m.version({tool.distribution!r}))"
    result = subprocess.run(
        [str(bin_dir / "python"), "-c", code], capture_output=True, text=True, timeout=30
    )
    return result.stdout.strip()


def take(tmux: Tmux, step: Step) -> None:
    tries = 5 if step.again else 1
    for n in range(tries):
        tmux.send(*step.send, literal=step.literal)
        try:
            tmux.wait_for(shows(step.until), 2 if step.again else 15, repr(step.until))
            return
        except NotDriven:
            if n == tries - 1:
                raise


def to_last_row(tmux: Tmux, key: str, within: float = 240) -> str:
    """Press the end key until a press leaves the bottom row where it was; return that row.

    Once is not enough for sqlit-tui: its G lands on the last row it has loaded so far. (And
    stackdeck's G reloads the last page, so a press may redraw the same rows.)
    """
    deadline = time.monotonic() + within
    bottom = ""
    for presses in range(30):
        before = tmux.screen()
        tmux.send(key)
        try:
            rows = DATA_ROW.findall(tmux.wait_rows_settled(before, 10 if presses else 180))
        except NotDriven:
            if presses == 0 or "[exited]" in tmux.screen():
                raise
            return bottom  # the key moved nothing: on the last row
        if presses and rows and rows[-1] == bottom:
            return bottom
        bottom = rows[-1] if rows else bottom
        if time.monotonic() > deadline:
            break
    raise NotDriven(f"still not on the last row after {within:g} s (at {bottom})")


def drive(tmux: Tmux, tool: Tool, bin_dir: Path, target: Target, home: Path, page: bool) -> Sample:
    env = {
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        # The peers' config, history and caches go to the throwaway directory, not ~.
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "STACKDECK_DATA_DIR": str(home / "stackdeck"),
        "STACKDECK_DATABASE_URL": target.url,
        **target.pgpass(home),
    }
    started = time.perf_counter()
    tmux.start(tool.argv(bin_dir, target), env, home)
    tmux.wait_for(lambda s: tool.ready(s, target), 90, "ready screen")
    launch = time.perf_counter() - started
    query = None
    if tool.query:
        for step in tool.query:
            take(tmux, step)
        tmux.send(tool.run_key)
        pressed = time.perf_counter()
        tmux.wait_for(lambda s: DATA_ROW.search(s) is not None, 180, "data rows")
        query = time.perf_counter() - pressed
    # The result fully drawn: what the tool says it holds is on screen, the rows stay put.
    screen = tmux.wait_for(lambda s: tool.held.search(s) is not None, 60, "row count")
    screen = tmux.wait_rows_settled("", 60)
    match = tool.held.search(screen) or tool.held.search(tmux.screen())
    pid = tmux.pane_pid()
    rss_result = peak_rss_mb(pid)
    rss_paged, last_row = None, ""
    if page:
        if tool.focus_results:
            tmux.send(*tool.focus_results)
        for _ in range(PAGE_DOWNS):
            tmux.send("PageDown")
            time.sleep(0.05)
        last_row = to_last_row(tmux, tool.end_key)
        rss_paged = peak_rss_mb(pid)
    held = match.group(match.lastindex or 0) if match else ""
    return Sample(launch, query, rss_result, rss_paged, held, last_row)


@dataclass
class Prepared:
    tool: Tool
    row: Row
    bin_dir: Path
    home: Path
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def prepare(tool: Tool, root: Path, console: Console) -> Prepared | Row:
    """The tool installed (a peer, in its own venv): ready to drive, or a "not measured" row."""
    row = Row(tool.name, note=tool.note)
    try:
        if tool.requirements:
            console.print(f"[dim]{tool.name}: pip install {' '.join(tool.requirements)}[/dim]")
            bin_dir = install(tool, root)
            row.version = version(tool, bin_dir)
        else:
            bin_dir, row.version = STACKDECK.parent, version(tool, None)
    except (NotDriven, OSError, subprocess.SubprocessError) as exc:
        row.note = f"not measured: {exc}"
        return row
    home = root / "home" / tool.name
    home.mkdir(parents=True, exist_ok=True)
    return Prepared(tool, row, bin_dir, home)


def sample(tool: Prepared, target: Target) -> None:
    """One launch of the tool in a fresh tmux server; a failure is kept with its reason."""
    tmux = Tmux()
    try:
        tool.samples.append(drive(tmux, tool.tool, tool.bin_dir, target, tool.home, page=True))
    except NotDriven as exc:
        tool.failures.append(str(exc))
    except (OSError, subprocess.SubprocessError, psutil.Error) as exc:
        tool.failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
    finally:
        tmux.kill_server()


def summarise(tool: Prepared) -> Row:
    row, samples = tool.row, tool.samples
    if not samples:
        row.note = f"not measured: {tool.failures[-1] if tool.failures else 'no runs'}"
        return row
    if tool.failures:
        runs = len(samples) + len(tool.failures)
        row.note += f" ({len(tool.failures)} of {runs} runs failed: {tool.failures[-1]})"
    row.samples = [asdict(s) for s in samples]
    row.launch_s = median([s.launch_s for s in samples])
    queries = [s.query_s for s in samples if s.query_s is not None]
    row.query_s = median(queries) if queries else None
    row.rss_result_mb = median([s.rss_result_mb for s in samples])
    paged = [s.rss_paged_mb for s in samples if s.rss_paged_mb is not None]
    row.rss_paged_mb = median(paged) if paged else None
    row.held = samples[-1].held
    return row


def measure(
    tools: list[Tool], root: Path, target: Target, repetitions: int, console: Console
) -> list[Row]:
    """Every tool installed first, then the runs taken in turns, so noise spreads evenly."""
    prepared = [prepare(tool, root, console) for tool in tools]
    for n in range(repetitions):
        for tool in prepared:
            if isinstance(tool, Prepared):
                console.print(f"[dim]{tool.row.tool} {tool.row.version}: run {n + 1}[/dim]")
                sample(tool, target)
    return [summarise(tool) if isinstance(tool, Prepared) else tool for tool in prepared]


# -- the run --------------------------------------------------------------------------------------


def seed(url: str, users: int) -> None:
    """The product's own bulk path, as a user runs it."""
    how_many = ["--users", str(users), "--posts-per-user", "1"]
    subprocess.run(
        [str(STACKDECK), "seed", *how_many, "--database-url", url],
        check=True,
        capture_output=True,
        timeout=1800,
    )


@contextlib.contextmanager
def throwaway(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="stackdeck-peers-") as tmp:
        yield Path(tmp)


@contextlib.contextmanager
def seeded_database(users: int, console: Console) -> Iterator[str]:
    from benchmarks.harness import database

    with database() as (_, url):
        console.print(f"[dim]seeding {users:,} users with `stackdeck seed`[/dim]")
        seed(url, users)
        # Settled, as a real database is: no autovacuum of the fresh rows during the first run.
        vacuum(url)
        yield url


def run(
    users: int,
    repetitions: int,
    venvs: Path | None = None,
    database_url: str | None = None,
    console: Console | None = None,
    only: list[str] | None = None,
) -> list[Row]:
    """Measure stackdeck and the peers on one database (given, or a fresh seeded one)."""
    console = console or Console()
    tools = [t for t in (STACKDECK_TOOL, *PEERS) if not only or t.name in only]
    if shutil.which("tmux") is None:
        rows = [Row(t.name, note="not measured: tmux is not installed") for t in tools]
    else:
        with contextlib.ExitStack() as stack:
            root = stack.enter_context(throwaway(venvs))
            url = database_url or stack.enter_context(seeded_database(users, console))
            target = Target.from_url(url)
            rows = measure(tools, root, target, repetitions, console)
    show(rows, users, repetitions, console)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores, "
                f"Python {platform.python_version()}",
                "users": users,
                "repetitions": repetitions,
                "terminal": "tmux 160x45",
                "query": QUERY,
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"[dim]written to {RESULTS}[/dim]")
    return rows


def show(rows: list[Row], users: int, repetitions: int, console: Console) -> None:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} s"

    def mb(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f} MB"

    table = Table(
        title=f"stackdeck and its peers in tmux, {users:,} users "
        f"(median of {repetitions}; peak RSS of the tool's process tree)"
    )
    for column in (
        "tool",
        "launch → ready",
        "query key → first rows",
        "peak RSS, result shown",
        f"after {PAGE_DOWNS} PageDown + last row",
        "rows held (as the tool says)",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            f"{r.tool} {r.version}".strip(),
            seconds(r.launch_s),
            seconds(r.query_s),
            mb(r.rss_result_mb),
            mb(r.rss_paged_mb),
            r.held,
        )
    console.print(table)
    for r in rows:
        if r.note:
            console.print(f"[dim]{r.tool}:[/dim] {r.note}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tui_peers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100,000 users, one run per tool")
    parser.add_argument("--users", type=int, help="users to seed (default 1,000,000)")
    parser.add_argument("--repetitions", type=int, help="launches of each tool (default 3)")
    parser.add_argument(
        "--venvs", type=Path, help="keep the peers' venvs here and reuse them (default: a temp dir)"
    )
    parser.add_argument(
        "--database-url", help="an already seeded database (default: a fresh one, seeded here)"
    )
    names = [t.name for t in (STACKDECK_TOOL, *PEERS)]
    parser.add_argument("--only", action="append", choices=names, help="just this tool (repeat)")
    args = parser.parse_args()
    users = args.users or (100_000 if args.quick else 1_000_000)
    repetitions = args.repetitions or (1 if args.quick else 3)
    run(users, repetitions, args.venvs, args.database_url, only=args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Load from a separate process: wrk at a fixed concurrency, its figures parsed."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    base_url: str,
    path: str,
    seconds: float,
    connections: int = 32,
    id_range: tuple[int, int] | None = None,
) -> LoadResult:
    """GET `path` (with {id} drawn from id_range) for `seconds` at `connections` concurrency."""
    script = f'request = function() return wrk.format("GET", "{path}") end'
    if id_range is not None:
        lo, hi = id_range
        lua_path = path.replace("{id}", "%d")
        script = (
            "math.randomseed(7)\n"
            f'request = function() return wrk.format("GET", string.format("{lua_path}", '
            f"math.random({lo}, {hi}))) end"
        )
    return _run_wrk(base_url, script, seconds, connections)


_runs = itertools.count()


def wrk_create_users(base_url: str, seconds: float, connections: int = 32) -> LoadResult:
    """POST /api/v1/users with a new email each time, for `seconds` at `connections`.

    The emails carry this process's id and the run's number, so no run collides with an
    earlier one on the same database: every write is an insert, never a 409.
    """
    prefix = f"w{os.getpid()}r{next(_runs)}"
    script = f"""
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, "/api/v1/users", nil,
    string.format('{{"name": "Writer %d", "email": "{prefix}n%d@bench.io"}}', n, n))
end
"""
    return _run_wrk(base_url, script, seconds, connections)


def _run_wrk(base_url: str, script: str, seconds: float, connections: int) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{round(seconds)}s",
                "--latency",
                # wrk's default 2 s timeout drops slow responses from the percentiles and
                # counts them as socket errors: every response counts in the latency here.
                "--timeout",
                "30s",
                "-s",
                lua.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*?(\d+).*?(\d+).*?(\d+).*?(\d+)", out)
    return LoadResult(
        rps,
        p50,
        p99,
        int(non_2xx.group(1)) if non_2xx else 0,
        sum(int(g) for g in errors.groups()) if errors else 0,
    )

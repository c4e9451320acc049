"""The database password never shows: not in responses, logs, /health or CLI output."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from stackdeck.backend.main import create_app
from tests.conftest import CANARY, make_settings
from tests.faults import table_locked
from tests.helpers import free_port, serving
from tests.processes import backend_process


def command_line_outputs(canary_url: str, log_dir: Path) -> list[str]:
    """What `stackdeck serve` prints: a served error, and refusals at start-up."""
    outputs = []
    env = {**os.environ, "STACKDECK_DATABASE_URL": canary_url}
    with backend_process(log_dir, env=env) as server:
        httpx.post(f"{server.url}/api/v1/users", json={"name": "x" * 500, "email": "bad"})
    outputs.append(server.log())
    sync_driver = canary_url.replace("+asyncpg", "+psycopg2")
    for command in (["serve"], ["serve", "--host", "0.0.0.0"]):
        result = subprocess.run(
            [sys.executable, "-m", "stackdeck.backend.cli", *command],
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "STACKDECK_DATABASE_URL": sync_driver},
        )
        outputs.append(result.stdout + result.stderr)
    return outputs


async def test_error_paths_never_show_the_password(
    canary_url: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    app = create_app(make_settings(canary_url, statement_timeout_ms=300))
    async with serving(app) as c:
        body = {"name": "Ada", "email": "ada@example.com"}
        requests = [
            c.get("/health"),
            c.post("/users", json=body),
            c.post("/users", json=body),  # 409
            c.post("/users", json={"name": "\x00"}),  # 422
            c.get("/users/999"),  # 404
            c.post("/posts", json={"user_id": 999, "title": "t"}),  # 422 from the database
            c.get("/openapi.json"),
        ]
        for request in requests:
            response = await request
            seen.append(response.text + str(response.headers))
            # The X-ray of every one of them, and of every logged transaction.
            trace = await c.get(f"/requests/{response.headers['x-request-id']}")
            seen.append(trace.text)
        for logged in (await c.get("/transactions")).json()["items"]:
            seen.append((await c.get(f"/transactions/{logged['id']}")).text)
        async with table_locked(canary_url):
            timed_out = await c.get("/users")  # 503 statement timeout
        assert timed_out.status_code == 503
        seen.append(timed_out.text)
        seen.append(repr(app.state.settings) + app.state.database_url)

    dead = make_url(canary_url).set(host="127.0.0.1", port=free_port(), query={})
    down = create_app(make_settings(dead.render_as_string(False), connect_timeout=1))
    async with serving(down) as c:
        for path in ("/health", "/users"):
            seen.append((await c.get(path)).text)

    seen += await asyncio.to_thread(command_line_outputs, canary_url, tmp_path)

    seen.append(caplog.text)
    assert all(seen)
    leaks = [text for text in seen if CANARY in text]
    assert not leaks, leaks[0][:500]

"""`stackdeck web` in a real headless Chromium: the page shows the console and takes keys."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from playwright.async_api import Page, Route, async_playwright

from tests.helpers import eventually, free_port
from tests.processes import REPO_ROOT
from tests.tmux import clean_env

CHROMIUM = shutil.which("chromium")
CLI = [sys.executable, "-m", "stackdeck.backend.cli"]
TOKEN = "web-test-token-0c6d"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# Chromium as root, and quiet: nothing of its own leaves the machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Records the page's xterm.js terminal when the page assigns it (`this.terminal = new
# Terminal(…)`), so the test reads the text the terminal holds: it draws on a canvas.
CAPTURE_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true});
    if (value && value.buffer) window.__terminal = value;
  },
});
"""

SCREEN_TEXT = """() => {
  const buffer = window.__terminal && window.__terminal.buffer.active;
  if (!buffer) return "";
  const lines = [];
  for (let y = 0; y < buffer.length; y++) lines.push(buffer.getLine(y).translateToString(true));
  return lines.join("\\n");
}"""


@dataclass
class WebServer:
    process: subprocess.Popen[str]
    url: str
    log: Path

    def stop(self) -> None:
        """Ctrl+C: the server exits cleanly, and with it every page's console."""
        consoles = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(30) == 0, self.log.read_text()
        _, alive = psutil.wait_procs(consoles, timeout=10)
        assert alive == [], f"consoles left running: {alive}"


@contextmanager
def web_server(log_dir: Path, *args: str, env: dict[str, str]) -> Iterator[WebServer]:
    port = free_port()
    log = log_dir / "web.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*CLI, "web", "--port", str(port), *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = WebServer(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(server.url, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield server
        if process.poll() is None:
            server.stop()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.fixture
def web(database_url: str, tmp_path: Path) -> Iterator[WebServer]:
    """`stackdeck web` as it starts by default: its own backend, here on the test database."""
    env = clean_env(STACKDECK_DATABASE_URL=database_url, STACKDECK_API_TOKEN=TOKEN)
    with web_server(tmp_path, env=env) as server:
        yield server


@pytest.fixture
def web_elsewhere(tmp_path: Path) -> Iterator[WebServer]:
    """`stackdeck web --api-url`: no backend of its own (no page opens a console here)."""
    env = clean_env(STACKDECK_API_TOKEN=TOKEN)
    with web_server(tmp_path, "--api-url", "http://127.0.0.1:9", env=env) as server:
        yield server


def seed(database_url: str, users: int) -> None:
    seeded = subprocess.run(
        [*CLI, "seed", "--users", str(users), "--posts-per-user", "1"],
        env=clean_env(STACKDECK_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode == 0, seeded.stderr


async def only_loopback(route: Route) -> None:
    # The page asks a font host for Roboto Mono; this machine talks to itself only.
    if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1")):
        await route.continue_()
    else:
        await route.abort()


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            await page.add_init_script(CAPTURE_TERMINAL)
            await page.route("**/*", only_loopback)
            yield page
        finally:
            await browser.close()


@pytest.mark.slow  # a real browser: .ci/run runs it after the default suite
async def test_the_console_in_a_browser_shows_the_users_and_takes_keys(
    database_url: str, web: WebServer, page: Page
) -> None:
    seed(database_url, 5)
    await page.goto(f"{web.url}/?token={TOKEN}")  # once; then the cookie
    assert page.url == f"{web.url}/"

    async def screen_has(*texts: str) -> bool:
        text = str(await page.evaluate(SCREEN_TEXT))
        return all(t in text for t in texts)

    # The rows come from the backend `web` started, reached with the token it was given.
    await eventually(lambda: screen_has("Users", "5 users", "@"), within=60, interval=0.5)
    await page.click(".xterm-screen")
    await page.keyboard.press("?")
    await eventually(lambda: screen_has("command palette"), within=20, interval=0.3)
    console = psutil.Process(web.process.pid).children(recursive=True)
    assert any("--api-url" in " ".join(p.cmdline()) for p in console)
    web.stop()  # with the page still open


async def test_the_web_server_keeps_the_apis_rules(web_elsewhere: WebServer) -> None:
    async with httpx.AsyncClient(base_url=web_elsewhere.url, timeout=10) as client:
        assert (await client.get("/")).status_code == 401
        assert (
            await client.get("/", headers={"Cookie": "stackdeck_token=wrong"})
        ).status_code == 401
        allowed = await client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200
        rebound = await client.get("/", headers={"Host": "attacker.example", "Authorization": ""})
        assert rebound.status_code == 400
        assert rebound.headers["content-type"].startswith("application/problem+json")
        # A page of another site may not open the console's socket (cross-site WebSocket).
        hijack = await client.get(
            "/ws",
            headers={
                "Origin": "http://attacker.example",
                "Authorization": f"Bearer {TOKEN}",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        )
        assert hijack.status_code == 403
        garbled = await client.get("/", headers={"Origin": "http://[", "Authorization": ""})
        assert garbled.status_code == 403


def test_web_refuses_an_open_bind_without_a_token() -> None:
    refused = subprocess.run(
        [*CLI, "web", "--host", "0.0.0.0", "--port", str(free_port())],
        env=clean_env(STACKDECK_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "STACKDECK_API_TOKEN" in refused.stderr and "Traceback" not in refused.stderr

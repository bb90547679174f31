"""A real `murmur serve` (SQLite store, FunctionModel agents) and Debian's Chromium.

The server runs as a subprocess on a loopback port with a bearer token; the fixtures seed it
with real runs over the HTTP API (a tool call, a failing run, a spawn tree and a group) and
with a program of agent processes run on its store (`_dash_process.py`).
A missing browser or unbuilt dashboard skips with what to do (fails under CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from murmur.testing import services_required

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FRONTEND = ROOT / "plugins" / "murmur-dashboard" / "frontend"
SCREENSHOTS = ROOT / "docs" / "img" / "dashboard"
TOKEN = "dashboard-test-token-5e1f"
CHROMIUM = os.environ.get("MURMUR_CHROMIUM", "/usr/bin/chromium")


def missing(message: str) -> None:
    """Skip with `message`, or fail under CI (`MURMUR_REQUIRE_SERVICES=1`)."""
    if services_required():
        pytest.fail(message + " (MURMUR_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A `murmur serve` process and the runs the tests seeded it with."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    runs: dict[str, str] = field(default_factory=dict)
    execution_id: str = ""
    """The root process of the `_dash_process.py` program run on the store (its trace id)."""

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )

    def start(self, agent: str, value: Any) -> str:
        with self.client() as http:
            response = http.post("/runs", json={"agent": agent, "input": value})
            response.raise_for_status()
            return str(response.json()["run_id"])

    def wait(self, run_id: str) -> dict[str, Any]:
        with self.client() as http:
            response = http.get(f"/runs/{run_id}/result", params={"wait": 30})
            response.raise_for_status()
            return response.json()

    def get(self, path: str, **params: Any) -> Any:
        with self.client() as http:
            response = http.get(path, params=params)
            response.raise_for_status()
            return response.json()


def start_server(
    tmp: Path, *, port: int | None = None, extra_env: dict[str, str] | None = None
) -> Served:
    """`murmur serve --app _dash_app:served` on a loopback port, once it answers.

    The SQLite store is `tmp/runs.db`: a server started again on the same `tmp` (and
    `port`) holds what the first one stored.
    """
    port = port or free_port()
    log = tmp / "serve.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "MURMUR_DASHBOARD_TEST_STORE": f"sqlite:///{tmp / 'runs.db'}",
        **(extra_env or {}),
    }
    command = [
        str(Path(sys.executable).with_name("murmur")), "serve", "--port", str(port),
        "--app", "_dash_app:served", "--token", TOKEN, "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"murmur serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return Served(url=url, process=process, log=log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"murmur serve did not answer in 60 s: {log.read_text()[-2000:]}")


def stop_server(served: Served) -> None:
    served.process.terminate()
    try:
        served.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        served.process.kill()
        served.process.wait(timeout=5)


@pytest.fixture(scope="module")
def dashboard_built() -> None:
    """The SPA is built into the package (what the wheel ships)."""
    from murmur_dashboard import DashboardNotBuiltError, static_dir

    try:
        static_dir()
    except DashboardNotBuiltError as exc:
        missing(exc.message)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, dashboard_built: None) -> Iterator[Served]:
    """A seeded server: a tool run, a failing run, a spawn tree, a group run and a program of
    agent processes (a root, a child process, an agent run in it) on the same store."""
    tmp = tmp_path_factory.mktemp("serve")
    live = start_server(tmp)
    program = run_process_program(tmp)
    try:
        live.runs["researcher"] = live.start("researcher", "nats")
        live.runs["broken"] = live.start("broken", "anything")
        live.runs["orchestrator"] = live.start("orchestrator", "compare brokers")
        with live.client() as http:
            response = http.post("/runs/group", json={"group": "pipeline", "input": "hello"})
            response.raise_for_status()
            live.runs["pipeline"] = str(response.json()["run_id"])
        for run_id in live.runs.values():
            live.wait(run_id)
        live.execution_id = process_program_result(program)
        yield live
    finally:
        program.kill()
        stop_server(live)


def run_process_program(tmp: Path) -> subprocess.Popen[str]:
    """Start `_dash_process.py` on the store of a server started on `tmp`."""
    return subprocess.Popen(
        [sys.executable, str(HERE / "_dash_process.py"), f"sqlite:///{tmp / 'runs.db'}"],
        env={**os.environ, "MURMUR_HOME": str(tmp / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def process_program_result(program: subprocess.Popen[str]) -> str:
    """The execution id the program printed, once it has checked its result."""
    out, err = program.communicate(timeout=60)
    lines = out.split("\n")
    assert program.returncode == 0, err[-2000:]
    assert lines[0] == "summary: all fine"
    return lines[1]


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Debian's Chromium (Playwright cannot download browsers here)."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        missing(f"no Chromium at {CHROMIUM}: apt-get install -y chromium")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """A headless Chromium driven by Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed: uv sync --all-groups")
        raise
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium_path, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield instance
        instance.close()


@pytest.fixture
def offsite() -> list[str]:
    """Requests the page tried to send anywhere but the server (must stay empty: no CDN)."""
    return []


def open_page(
    browser: Any, served: Served, offsite: list[str], *, token: str | None = TOKEN
) -> Any:
    """A new page with the token in its session (or none), every off-server request blocked."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    if token is not None:
        context.add_init_script(
            f"window.sessionStorage.setItem('murmur.dashboard.token', {token!r});"
        )

    def guard(route: Any) -> None:
        if route.request.url.startswith(served.url):
            route.continue_()
        else:
            offsite.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def screenshot(page: Any, name: str) -> None:
    """Take the page's picture: into docs/img/dashboard with `MURMUR_UPDATE_SCREENSHOTS=1`.

    Otherwise into a temporary directory, so a test run leaves the checkout as it was.
    """
    folder = (
        SCREENSHOTS
        if os.environ.get("MURMUR_UPDATE_SCREENSHOTS") == "1"
        else Path(tempfile.gettempdir()) / "murmur-dashboard-screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def have_npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        missing("npm is not installed (Node.js 20+): apt-get install -y nodejs npm")
    return str(npm)

"""`pip install murmur-core murmur-server murmur-dashboard` from built wheels serves the dashboard.

The wheels are built as a release would build them (`uv build --no-sources`: sdist, then the
wheel from the sdist), installed into a fresh virtualenv, and `murmur serve` from that
virtualenv must serve the page, every asset it names and the API docs' assets itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from .conftest import ROOT, free_port, missing

DISTRIBUTIONS = ("murmur-core", "plugins/murmur-client", "plugins/murmur-server")
DASHBOARD = ROOT / "plugins" / "murmur-dashboard"

APP = """
from murmur import Agent

agent = Agent(name="echo", model="test")
"""


def _uv() -> str:
    uv = shutil.which("uv")
    if uv is None:
        missing("uv is not on the PATH")
    return str(uv)


def _run(*command: str, cwd: Path | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.timeout(600)
def test_built_wheels_in_a_fresh_venv_serve_the_dashboard_offline(
    tmp_path: Path, dashboard_built: None
) -> None:
    """Build, install, serve: the page and all it loads come from the server."""
    uv = _uv()
    dist = tmp_path / "dist"
    for path in (*DISTRIBUTIONS, "plugins/murmur-dashboard"):
        _run(uv, "build", "--no-sources", "--quiet", str(ROOT / path), "-o", str(dist))
    wheel = next(dist.glob("murmur_dashboard-*.whl"))
    venv = tmp_path / "venv"
    _run(uv, "venv", "--quiet", "--python", "3.11", str(venv))
    python = venv / "bin" / "python"
    _run(
        uv, "pip", "install", "--quiet", "--python", str(python), "--find-links", str(dist),
        "murmur-core", "murmur-server", "murmur-dashboard",
    )  # fmt: skip
    listed = _run(str(venv / "bin" / "murmur"), "plugins", "list", "--json")
    assert '"murmur-dashboard"' in listed
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    server = subprocess.Popen(
        [str(venv / "bin" / "murmur"), "serve", "--port", str(port), "--app", "app:agent"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else ""
            assert time.monotonic() < deadline, "murmur serve did not answer in 60 s"
            time.sleep(0.3)
        page = httpx.get(f"{url}/dashboard/")
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert [a for a in assets if not a.startswith(("./", "data:"))] == []
        for asset in assets:
            if asset.startswith("./"):
                response = httpx.get(f"{url}/dashboard/{asset[2:]}")
                assert response.status_code == 200, asset
                assert len(response.content) > 100
        docs = httpx.get(f"{url}/docs").text
        for asset in re.findall(r"(?:src|href)=['\"]([^'\"]+)['\"]", docs):
            assert asset.startswith("/docs/assets/"), asset
            assert httpx.get(f"{url}{asset}").status_code == 200
        agents = httpx.get(f"{url}/agents").json()
        assert [a["name"] for a in agents] == ["echo"]
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert wheel.stat().st_size > 50_000  # the built SPA is inside


def test_a_wheel_without_the_built_dashboard_fails_to_build(tmp_path: Path) -> None:
    """No built assets and no way to build them: the build fails and says what to run."""
    uv = _uv()
    copy = tmp_path / "murmur-dashboard"
    shutil.copytree(
        DASHBOARD,
        copy,
        ignore=shutil.ignore_patterns("node_modules", "static", "frontend", "__pycache__"),
    )
    done = subprocess.run(
        [uv, "build", "--wheel", "--no-sources", str(copy), "-o", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "no built dashboard" in done.stderr + done.stdout
    assert not list((tmp_path / "dist").glob("*.whl")) if (tmp_path / "dist").exists() else True

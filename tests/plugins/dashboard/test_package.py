"""The distribution without a browser: Vitest, the bundle budget, mounting, light imports."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from murmur_server import create_app, create_router

from murmur import Agent, AgentRuntime
from murmur.events import NullEventEmitter

from .conftest import FRONTEND, TOKEN, have_npm, missing

BUDGET_BYTES = 350 * 1024
"""The shipped assets, gzipped, must stay under this."""


@pytest.fixture
def runtime() -> AgentRuntime:
    rt = AgentRuntime(event_emitter=NullEventEmitter())
    rt.register(Agent(name="echo", model="test"))
    return rt


def test_the_vitest_component_tests_pass(dashboard_built: None) -> None:
    """Tree building, aggregations and the SSE parser (src/*.test.ts), run by Vitest."""
    have_npm()
    if not (FRONTEND / "node_modules" / ".bin" / "vitest").exists():
        missing(f"no node_modules in {FRONTEND}: npm ci --prefix {FRONTEND}")
    done = subprocess.run(
        ["npx", "--no-install", "vitest", "run", "--reporter=dot"],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=120,
        env={"CI": "1", "PATH": __import__("os").environ["PATH"], "NO_COLOR": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"Tests\s+\d+ passed", done.stdout), done.stdout[-2000:]


def test_the_shipped_assets_stay_within_the_bundle_budget(dashboard_built: None) -> None:
    """Everything under static/, gzipped, is at most 350 KB (the figure is printed)."""
    from murmur_dashboard import static_dir

    files = [p for p in static_dir().rglob("*") if p.is_file()]
    sizes = {p.name: len(gzip.compress(p.read_bytes(), 9)) for p in files}
    total = sum(sizes.values())
    print(f"dashboard assets: {total / 1024:.1f} KB gzipped in {len(files)} files: {sizes}")
    assert any(p.suffix == ".js" for p in files)
    assert total <= BUDGET_BYTES


def test_murmur_serve_mounts_the_page_without_a_token_and_keeps_the_api_behind_it(
    runtime: AgentRuntime, dashboard_built: None
) -> None:
    """The page and its scripts hold no data: open; the API it calls still needs the token."""
    with TestClient(create_app(runtime, token=TOKEN)) as http:
        page = http.get("/dashboard/")
        assert page.status_code == 200
        assert '<meta name="murmur-api" content="">' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', page.text)
        assert assets
        for asset in assets:
            response = http.get(f"/dashboard/{asset}")
            assert response.status_code == 200
            assert "immutable" in response.headers["cache-control"]
        external = re.findall(r'(?:src|href)="(https?:)?//', page.text)
        assert external == []
        assert http.get("/dashboard", follow_redirects=False).status_code in (307, 308)
        assert http.get("/runs").status_code == 401
        assert http.get("/dashboard/../runs").status_code in (401, 404)
        authed = http.get("/runs", headers={"Authorization": f"Bearer {TOKEN}"})
        assert authed.status_code == 200


def test_without_the_plugin_hook_there_is_no_dashboard(runtime: AgentRuntime) -> None:
    """Nothing changes when the plugin's routes are not mounted."""
    with TestClient(create_app(runtime, plugin_routes=False)) as http:
        assert http.get("/dashboard/").status_code == 404


def test_mount_dashboard_next_to_create_router_on_your_own_app(
    runtime: AgentRuntime, dashboard_built: None
) -> None:
    """On a user's FastAPI app, the page is told where the API is mounted."""
    from murmur_dashboard import mount_dashboard

    app = FastAPI()
    app.include_router(create_router(runtime, token=TOKEN), prefix="/murmur")
    mount_dashboard(app, path="/ops", api_prefix="/murmur")
    with TestClient(app) as http:
        page = http.get("/ops/")
        assert page.status_code == 200
        assert '<meta name="murmur-api" content="/murmur">' in page.text
        assert http.get("/murmur/agents").status_code == 401
        agents = http.get("/murmur/agents", headers={"Authorization": f"Bearer {TOKEN}"})
        assert [a["name"] for a in agents.json()] == ["echo"]


def test_a_bad_mount_path_is_a_typed_error(dashboard_built: None) -> None:
    """`path` must look like "/name"; the error says so."""
    from murmur_dashboard import mount_dashboard

    from murmur import MurmurError

    with pytest.raises(MurmurError) as caught:
        mount_dashboard(FastAPI(), path="dashboard/")
    assert caught.value.code == "invalid_options"


def test_a_missing_build_is_a_typed_error_saying_what_to_run(tmp_path: Path) -> None:
    """A checkout without the built SPA: DashboardNotBuiltError names the command."""
    from murmur_dashboard import DashboardNotBuiltError

    error = DashboardNotBuiltError(tmp_path)
    assert error.code == "dashboard_not_built"
    assert "npm ci && npm run build" in error.message


def test_importing_the_plugin_is_light() -> None:
    """`import murmur_dashboard` and its hooks module import no FastAPI / Starlette."""
    code = (
        "import sys, murmur_dashboard, murmur_dashboard._hooks;"
        "print(sorted(m for m in ('fastapi', 'starlette') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_exported_names_are_exactly_the_intended_ones() -> None:
    """`murmur_dashboard.__all__` is the public face, and every name resolves."""
    import murmur_dashboard

    assert set(murmur_dashboard.__all__) == {
        "DASHBOARD_PATH",
        "DashboardApp",
        "DashboardNotBuiltError",
        "mount_dashboard",
        "static_dir",
    }
    for name in murmur_dashboard.__all__:
        assert getattr(murmur_dashboard, name) is not None


def test_the_live_filter_offers_every_event_type() -> None:
    """The Live page's type filter lists exactly the API's EventTypes (process ones too)."""
    from murmur import EventType

    source = (FRONTEND / "src" / "logic.ts").read_text()
    listed = source.split("export const EVENT_TYPES = [", 1)[1].split("];", 1)[0]
    offered = [item.strip().strip('",') for item in listed.split("\n") if item.strip()]
    assert [t.value for t in EventType] == offered

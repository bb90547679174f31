"""docs/http-api.md: its route reference matches the app, and its example runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_the_route_reference_is_generated_from_the_live_schema() -> None:
    """The generated section of the HTTP API page matches create_app(...).openapi()."""
    spec = importlib.util.spec_from_file_location("gen_http_api", DOCS / "gen_http_api.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (DOCS / "http-api.md").read_text()
    assert module.render(module.openapi()) in page, "run: uv run python docs/gen_http_api.py"


def test_the_python_example_runs_offline(tmp_path: Path) -> None:
    """The page's Python example runs as is, in-process and over HTTP, with no API key."""
    page = (DOCS / "http-api.md").read_text()
    example = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "asyncio.run" in b)
    script = tmp_path / "example.py"
    script.write_text(example)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(1 for line in lines if " completed answer=" in line) == 2
    assert lines[-2:] == ["agent_spawned researcher", "agent_completed researcher"]

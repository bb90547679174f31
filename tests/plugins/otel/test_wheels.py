"""`pip install murmur-core murmur-redis murmur-otel` composes: built wheels, a fresh venv.

murmur-core alone says what to install for "otel"; with the plugins installed next to it, the
emitter resolves by name and from `murmur.events`, and a run records spans.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to build wheels")

WITHOUT_PLUGIN = """
from murmur import AgentRuntime
from murmur.core.errors import RegistryError
try:
    AgentRuntime(event_emitter="otel")
except RegistryError as exc:
    print("runtime:", exc)
try:
    from murmur.events import OTelEmitter
except ImportError as exc:
    print("import:", exc)
"""

WITH_PLUGIN = """
import asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from murmur import Agent, AgentRuntime
from murmur.events import OTelEmitter, OTelTraceEmitter

print("by name:", type(AgentRuntime(event_emitter="otel").event_emitter).__name__)
spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
runtime = AgentRuntime(event_emitter=OTelTraceEmitter(tracer_provider=provider))
result = asyncio.run(runtime.run(Agent(name="solo", model="test"), "hi"))
runtime.event_emitter.flush()  # events reach the SDK in batches: hand this one over now
print("spans:", [s.name for s in spans.get_finished_spans()], result.is_ok())
"""


def _run(*command: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_core_redis_and_otel_wheels_compose_in_a_fresh_venv(tmp_path: Path) -> None:
    """Built wheels in a new venv: core alone hints, core + redis + otel records a span."""
    dist = tmp_path / "dist"
    for package in ("murmur-core", "murmur-redis", "murmur-otel"):
        _run("uv", "build", "--wheel", "--package", package, "--out-dir", dist)
    wheels = {p.name.split("-")[0]: p for p in dist.glob("*.whl")}
    assert sorted(wheels) == ["murmur_core", "murmur_otel", "murmur_redis"]
    venv = tmp_path / "venv"
    _run("uv", "venv", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    _run("uv", "pip", "install", "--python", python, wheels["murmur_core"])
    alone = _run(python, "-c", WITHOUT_PLUGIN, cwd=tmp_path)
    assert 'runtime: no emitter named "otel": pip install murmur-otel' in alone
    assert "import: murmur.events.OTelEmitter is provided by the murmur-otel" in alone
    _run(
        "uv", "pip", "install", "--python", python,
        wheels["murmur_core"], wheels["murmur_redis"], wheels["murmur_otel"],
    )  # fmt: skip
    composed = _run(python, "-c", WITH_PLUGIN, cwd=tmp_path)
    assert "by name: OTelEmitter" in composed
    assert "spans: ['invoke_agent solo'] True" in composed
    listed = _run(venv / "bin" / "murmur", "plugins", "list", cwd=tmp_path)
    assert "murmur-otel" in listed
    assert "murmur-redis" in listed

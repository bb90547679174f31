"""End to end against a real OTLP receiver: Arize Phoenix, on loopback.

The caller and two `murmur worker start --emitter otel` processes export over OTLP/HTTP to
Phoenix (the workers configured only by the standard `OTEL_*` variables); the trace is read
back through Phoenix's REST API. Phoenix starts once per session (it takes a while).
Needs the `phoenix` dependency group (`uv sync --group phoenix`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from murmur_otel import OTelEmitter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from murmur import Agent, AgentRuntime, RuntimeOptions
from murmur.testing import services_required

from ._fleet_traces import FleetFixtures, StartWorker
from .test_fleet_traces import RedisBroker

pytestmark = pytest.mark.services

PHOENIX_START_S = 240.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Phoenix server for the session: its base URL (OTLP/HTTP at /v1/traces)."""
    if importlib.util.find_spec("phoenix") is None:  # found without importing it (slow)
        if services_required():
            pytest.fail("arize-phoenix is not installed: uv sync --group phoenix")
        pytest.skip("arize-phoenix is not installed (uv sync --group phoenix)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("phoenix")
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = (workdir / "phoenix.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "phoenix.server.main", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + PHOENIX_START_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Phoenix exited: {(workdir / 'phoenix.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Phoenix did not start within {PHOENIX_START_S:g}s")
                time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def _spans(base: str, project: str, query: str, want: int) -> list[dict[str, Any]]:
    """The project's spans matching `query`, once Phoenix has `want` of them (ingestion is
    asynchronous, worker exports are batched)."""
    url = f"{base}/v1/projects/{project}/spans?limit=100&{query}"
    deadline = time.monotonic() + 60
    while True:
        try:
            spans = (await asyncio.to_thread(_get, url))["data"]
        except OSError:
            spans = []  # a 404 until the project's first span is stored
        if len(spans) >= want or time.monotonic() > deadline:
            return spans
        await asyncio.sleep(0.2)


class TestPhoenix(RedisBroker, FleetFixtures):
    """A fleet run on Redis, traced into Phoenix."""

    async def test_a_fleet_run_reads_back_from_phoenix_as_one_trace(
        self, phoenix: str, start_worker: StartWorker, broker_url: str, tmp_path: Path
    ) -> None:
        """Caller + 2 worker processes export over OTLP/HTTP; Phoenix's API returns one
        trace with the right parents, agent spans as AGENT and the tool span as TOOL."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        project = f"murmur-{uuid.uuid4().hex[:8]}"
        otel_env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        a = await start_worker("orchestrator", env=otel_env)
        b = await start_worker("child", env=otel_env)
        tracer_provider = TracerProvider(
            resource=Resource.create(
                {"service.name": "caller", "openinference.project.name": project}
            )
        )
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{phoenix}/v1/traces"))
        )
        emitter = OTelEmitter(
            tracer_provider=tracer_provider, meter_provider=MeterProvider(), from_env=False
        )
        caller = AgentRuntime(
            RuntimeOptions(timeout_seconds=60), broker=broker_url, event_emitter=emitter
        )
        try:
            result = await caller.run(Agent(name="orchestrator", model="test"), "go")
        finally:
            await caller.aclose()
            tracer_provider.shutdown()
        assert result.is_ok(), result.error
        assert result.output == f"orchestrated: child on {b.pid}"
        assert a.returncode is None

        (root,) = await _spans(phoenix, project, "parent_id=null", want=1)
        trace_id = root["context"]["trace_id"]
        spans = await _spans(phoenix, project, f"trace_id={trace_id}", want=5)
        named = {(s["name"], s["parent_id"] is None): s for s in spans}
        assert len(spans) == 5, [s["name"] for s in spans]
        assert {s["context"]["trace_id"] for s in spans} == {trace_id}
        caller_span = named[("invoke_agent orchestrator", True)]
        on_a = named[("invoke_agent orchestrator", False)]
        tool = named[("execute_tool delegate", False)]
        children = [s for s in spans if s["name"] == "invoke_agent child"]
        (dispatch,) = [c for c in children if c["parent_id"] == tool["context"]["span_id"]]
        (on_b,) = [c for c in children if c["parent_id"] == dispatch["context"]["span_id"]]
        assert on_a["parent_id"] == caller_span["context"]["span_id"]
        assert tool["parent_id"] == on_a["context"]["span_id"]
        assert {s["span_kind"] for s in (caller_span, on_a, dispatch, on_b)} == {"AGENT"}
        assert tool["span_kind"] == "TOOL"
        assert on_b["attributes"]["gen_ai.agent.name"] == "child"

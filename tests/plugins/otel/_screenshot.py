"""Regenerate `docs/img/otel-phoenix-trace.png`: a fleet trace in Arize Phoenix.

    uv run --group phoenix --with playwright python tests/plugins/otel/_screenshot.py \
        [--chromium /usr/bin/chromium]

Starts Phoenix on loopback, two `murmur worker start --emitter otel` processes on Redis
(127.0.0.1:6379) configured by `OTEL_*` variables only, runs the orchestrator from this process
(exporting over OTLP/HTTP too), then opens the trace in headless Chromium and saves the page.
Not a test: it produces a picture for the docs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _wait(check: Any, within_s: float, what: str) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.25)


async def _run_caller(broker: str, phoenix: str, project: str) -> None:
    from murmur_otel import OTelEmitter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from murmur import Agent, AgentRuntime, RuntimeOptions

    resource = Resource.create({"service.name": "caller", "openinference.project.name": project})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"{phoenix}/v1/traces")))
    emitter = OTelEmitter(tracer_provider=provider, meter_provider=MeterProvider(), from_env=False)
    async with AgentRuntime(
        RuntimeOptions(timeout_seconds=60), broker=broker, event_emitter=emitter
    ) as runtime:
        result = await runtime.run(Agent(name="orchestrator", model="test"), "go")
    provider.shutdown()
    print("result:", result.output if result.is_ok() else result.error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "otel-phoenix-trace.png"))
    args = parser.parse_args()
    port = _free_port()
    phoenix = f"http://127.0.0.1:{port}"
    project = "murmur-fleet"
    broker = f"redis://127.0.0.1:6379/0?namespace=shot-{uuid.uuid4().hex[:8]}"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as workdir:
        env = {
            **os.environ,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(_free_port()),
            "PHOENIX_WORKING_DIR": workdir,
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "phoenix.server.main", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        try:
            _wait(lambda: urllib.request.urlopen(f"{phoenix}/healthz", timeout=1), 300, "Phoenix")
            for agent in ("orchestrator", "child"):
                worker_env = {
                    **os.environ,
                    "PYTHONPATH": str(HERE),
                    "MURMUR_TEST_BROKER": broker,
                    "OTEL_SERVICE_NAME": f"worker-{agent}",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": phoenix,
                    "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}",
                    "OTEL_METRICS_EXPORTER": "none",
                    "OTEL_BSP_SCHEDULE_DELAY": "100",
                }
                command = [
                    sys.executable, "-c", "from murmur.cli import main; main()",
                    "worker", "start", "--agents", agent, "--app", "_otel_fleet_app:runtime",
                    "--broker", broker, "--emitter", "otel", "--no-log-events",
                ]  # fmt: skip
                procs.append(subprocess.Popen(command, cwd=HERE, env=worker_env))
            time.sleep(8)  # the workers import and start consuming
            asyncio.run(_run_caller(broker, phoenix, project))
            spans_url = f"{phoenix}/v1/projects/{project}/spans?limit=100"
            _wait(lambda: len(_get(spans_url)["data"]) >= 5, 60, "5 spans in Phoenix")
            project_id = next(
                p["id"] for p in _get(f"{phoenix}/v1/projects")["data"] if p["name"] == project
            )
            (root,) = [s for s in _get(spans_url)["data"] if s["parent_id"] is None]
            trace_id = root["context"]["trace_id"]
            from playwright.sync_api import (
                sync_playwright,
            )

            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, headless=True)
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                page.goto(f"{phoenix}/projects/{project_id}/traces/{trace_id}")
                page.wait_for_timeout(5000)
                page.screenshot(path=args.out)
                browser.close()
            print("saved", args.out)
        finally:
            for proc in reversed(procs):
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()

"""One trace across a worker fleet: caller -> worker A -> child on worker B.

Subclass `FleetTraceScenario` and provide `broker_url` (a namespace unique to the test).
The workers are `murmur worker start --emitter otel` processes running
`_otel_fleet_app:runtime`; each writes its spans to its own file, the caller's go to an
in-memory exporter, and the test joins them.
"""

from __future__ import annotations

import asyncio
import json
import time
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from murmur_otel import OTelEmitter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from murmur import Agent, AgentRuntime, RuntimeOptions
from murmur.events import CollectingEventEmitter
from murmur.testing.fleet_processes import ProcessFleetFixtures, WorkerProcesses, python_path

HERE = Path(__file__).parent
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SpanRecord:
    """One span, from any process: ids as ints, the pid of the process that made it."""

    name: str
    kind: str
    trace_id: int
    span_id: int
    parent_id: int | None
    pid: int
    attributes: dict[str, Any]


def _hex(value: str | None) -> int | None:
    return int(value, 16) if value else None


def read_span_files(directory: Path) -> list[SpanRecord]:
    """Every span the worker processes wrote (one JSON line each)."""
    spans = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            data = json.loads(line)
            spans.append(
                SpanRecord(
                    name=data["name"],
                    kind=data["kind"].removeprefix("SpanKind."),
                    trace_id=int(data["context"]["trace_id"], 16),
                    span_id=int(data["context"]["span_id"], 16),
                    parent_id=_hex(data.get("parent_id")),
                    pid=int(path.stem),
                    attributes=data.get("attributes") or {},
                )
            )
    return spans


_SPAN_WAIT_S = 15.0


async def wait_for_span_files(directory: Path, count: int) -> list[SpanRecord]:
    """The worker processes' spans once `count` are written (each worker hands its events to
    the SDK in batches, at most 0.2 s after they happen), or what is there after 15 s."""
    deadline = time.monotonic() + _SPAN_WAIT_S
    while True:
        spans = read_span_files(directory)
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        await asyncio.sleep(0.05)


StartWorker = Callable[..., Awaitable[Process]]


class FleetFixtures(ProcessFleetFixtures):
    """Worker processes running `_otel_fleet_app:runtime` on one broker (its `broker_url`
    and `fleet_events` come from murmur's `ProcessFleetFixtures`). Provide `broker_url`."""

    @pytest.fixture
    async def start_worker(
        self, broker_url: str, tmp_path: Path, fleet_events: CollectingEventEmitter
    ) -> AsyncIterator[StartWorker]:
        """Start `murmur worker start --emitter otel` processes (returns once consuming)."""
        (tmp_path / "spans").mkdir()
        workers = WorkerProcesses(
            broker_url,
            tmp_path,
            fleet_events=fleet_events,
            env={"PYTHONPATH": python_path(HERE), "MURMUR_TEST_BROKER": broker_url},
            cwd=HERE,
            start_timeout_s=START_TIMEOUT_S,
        )

        async def start(agent: str, env: dict[str, str] | None = None) -> Process:
            """Start a worker consuming `agent`; `env` replaces the span files with the
            OpenTelemetry configuration given (OTEL_* variables)."""
            spans = {"MURMUR_TEST_SPANS": str(tmp_path / "spans")}
            return await workers.start(
                "--emitter", "otel", "--no-log-events", "--heartbeat-interval", "1",
                agents=agent,
                app="_otel_fleet_app:runtime",
                prefix=f"otel-{agent}",
                env={"OTEL_SERVICE_NAME": f"worker-{agent}", **(env if env is not None else spans)},
            )  # fmt: skip

        yield start
        await workers.aclose()


class FleetTraceScenario(FleetFixtures):
    """The issue's fleet trace check on one broker. Provide `broker_url`."""

    async def test_caller_worker_and_a_child_on_another_worker_are_one_trace(
        self, start_worker: StartWorker, broker_url: str, tmp_path: Path
    ) -> None:
        """caller -> worker A (orchestrator) -> its tool -> child on worker B: one trace,
        each span's parent the span that caused it, across three processes."""
        a = await start_worker("orchestrator")
        b = await start_worker("child")
        exporter = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
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
        assert result.is_ok(), result.error
        assert result.output == f"orchestrated: child on {b.pid}"

        (mine,) = [s for s in exporter.get_finished_spans() if s.name.startswith("invoke_agent")]
        assert mine.parent is None
        workers = await wait_for_span_files(tmp_path / "spans", 4)
        by_name = {(s.name, s.kind): s for s in workers}
        on_a = by_name[("invoke_agent orchestrator", "INTERNAL")]
        tool = by_name[("execute_tool delegate", "INTERNAL")]
        dispatch = by_name[("invoke_agent child", "CLIENT")]
        on_b = by_name[("invoke_agent child", "INTERNAL")]
        trace_id = mine.context.trace_id
        assert {s.trace_id for s in workers} == {trace_id}
        assert len(workers) == 4
        assert (on_a.parent_id, on_a.pid) == (mine.context.span_id, a.pid)
        assert (tool.parent_id, tool.pid) == (on_a.span_id, a.pid)
        assert (dispatch.parent_id, dispatch.pid) == (tool.span_id, a.pid)
        assert (on_b.parent_id, on_b.pid) == (dispatch.span_id, b.pid)
        assert on_b.attributes["gen_ai.agent.name"] == "child"

"""The worker-process side of the fleet trace tests (`--app _otel_fleet_app:runtime`).

At import it sets the process's global tracer provider: every span goes, as it ends, to a
JSON-lines file of its own in `MURMUR_TEST_SPANS` (one file per process), so the test reads
every process's spans. `orchestrator` calls the `delegate` tool, which runs `child` on the
fleet through a second runtime on the same broker (`MURMUR_TEST_BROKER`): whichever worker
consumes `child` runs it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, TaskSpec
from murmur.events import NullEventEmitter


class JsonLinesExporter(SpanExporter):
    """Appends each finished span as one JSON line to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.path.open("a") as out:
            for span in spans:
                out.write(span.to_json(indent=None) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


_spans_dir = os.environ.get("MURMUR_TEST_SPANS")
if _spans_dir:
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "w")})
    )
    provider.add_span_processor(
        SimpleSpanProcessor(JsonLinesExporter(Path(_spans_dir) / f"{os.getpid()}.jsonl"))
    )
    trace.set_tracer_provider(provider)


def _returns(messages: list[ModelMessage]) -> list[Any]:
    return [
        p.content
        for m in messages
        for p in getattr(m, "parts", ())
        if getattr(p, "part_kind", "") == "tool-return"
    ]


async def _orchestrate(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    returns = _returns(messages)
    if not returns:
        return ModelResponse(parts=[ToolCallPart("delegate", {"question": "depth?"})])
    return ModelResponse(parts=[TextPart(f"orchestrated: {returns[0]}")])


async def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(f"child on {os.getpid()}")])


orchestrator = Agent(name="orchestrator", model=FunctionModel(_orchestrate), tools=("delegate",))
child = Agent(name="child", model=FunctionModel(_answer))

_fleet: dict[str, AgentRuntime] = {}


async def delegate(question: str) -> str:
    """Run `child` on the fleet (another worker process) and return its answer."""
    if "runtime" not in _fleet:
        _fleet["runtime"] = AgentRuntime(
            broker=os.environ["MURMUR_TEST_BROKER"], event_emitter="otel"
        )
    result = await _fleet["runtime"].run(
        Agent(name="child", model="test"), TaskSpec(input=question)
    )
    if result.error is not None:
        raise result.error
    return str(result.output)


runtime = AgentRuntime(event_emitter=NullEventEmitter())
runtime.register(orchestrator)
runtime.register(child)
runtime.tools.register("delegate", delegate)

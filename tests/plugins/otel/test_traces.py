"""Spans for runs, tool calls, spawned children, group runs and retries, read back from the
SDK's in-memory span exporter after real runs."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from murmur_otel import OTelTraceEmitter
from murmur_otel import _semconv as sc
from murmur_otel._spans import SPANS
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel
from pydantic_ai.messages import ModelResponse, TextPart

from murmur import (
    Agent,
    AgentGroup,
    AgentRuntime,
    AgentTemplate,
    Edge,
    RuntimeOptions,
    TaskSpec,
    TrustLevel,
)
from murmur.tools import make_spawn_agents_tool
from murmur.worker import Worker

sys.path.insert(0, str(Path(__file__).parent))

from _agents import answers, calls_then_answers, fails
from conftest import Telemetry


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _scope(span: ReadableSpan) -> str | None:
    return span.instrumentation_scope.name if span.instrumentation_scope else None


def _one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


async def test_a_run_is_an_invoke_agent_span_with_its_tool_calls_as_children(
    telemetry: Telemetry,
) -> None:
    """invoke_agent {agent} with GenAI attributes; each tool call an execute_tool child."""
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    runtime.tools.register("lookup", lambda city: f"sunny in {city}")
    agent = Agent(
        name="weather", model=calls_then_answers("lookup", {"city": "Oslo"}), tools=("lookup",)
    )
    result = await runtime.run(agent, "Oslo?")
    assert result.is_ok()
    spans = telemetry.finished()
    run = _one(spans, "invoke_agent weather")
    tool = _one(spans, "execute_tool lookup")
    assert run.kind is SpanKind.INTERNAL
    assert run.attributes is not None
    assert {k: run.attributes[k] for k in (sc.OPERATION_NAME, sc.AGENT_NAME, sc.PROVIDER_NAME)} == {
        sc.OPERATION_NAME: "invoke_agent",
        sc.AGENT_NAME: "weather",
        sc.PROVIDER_NAME: "function",
    }
    assert run.attributes[sc.REQUEST_MODEL] == "scripted"
    assert run.attributes[sc.INPUT_TOKENS] == result.metadata.input_tokens
    assert run.attributes[sc.OUTPUT_TOKENS] == result.metadata.output_tokens
    assert run.attributes["murmur.outcome"] == "ok"
    assert run.attributes["murmur.task_id"] == result.task_id
    assert tool.context.trace_id == run.context.trace_id
    assert _parent(tool) == run.context.span_id
    assert tool.attributes is not None
    assert tool.attributes[sc.TOOL_NAME] == "lookup"
    assert tool.attributes[sc.OPERATION_NAME] == "execute_tool"
    assert tool.attributes["openinference.span.kind"] == "TOOL"
    assert run.start_time is not None
    assert tool.start_time is not None
    assert run.start_time <= tool.start_time


async def test_a_denied_tool_call_is_an_error_span_with_the_trust_reason(
    telemetry: Telemetry,
) -> None:
    """The trust gate's refusal is an execute_tool span with status error and the reason."""
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    runtime.tools.register("wipe_disk", lambda: "gone")
    agent = Agent(
        name="intern",
        model=calls_then_answers("wipe_disk", {}),
        tools=("wipe_disk",),
        trust_level=TrustLevel.SANDBOX,
    )
    result = await runtime.run(agent, "go")
    assert result.error is not None
    spans = telemetry.finished()
    run = _one(spans, "invoke_agent intern")
    tool = _one(spans, "execute_tool wipe_disk")
    assert _parent(tool) == run.context.span_id
    assert tool.status.status_code is StatusCode.ERROR
    assert "SANDBOX agents may not call any tool" in (tool.status.description or "")
    assert tool.attributes is not None
    assert tool.attributes["murmur.tool.denied"] is True
    assert tool.attributes[sc.ERROR_TYPE] == "trust_violation"
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes is not None
    assert run.attributes["murmur.error.code"] == "trust_violation"


class Finding(BaseModel):
    topic: str


async def test_spawned_children_are_children_of_the_tool_call_that_spawned_them(
    telemetry: Telemetry,
) -> None:
    """spawn_agents' children hang under the execute_tool spawn_agents span, in one trace."""
    runtime = AgentRuntime(event_emitter=telemetry.emitter)

    async def child(messages: list[Any], info: Any) -> ModelResponse:
        from pydantic_ai.messages import ToolCallPart

        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {"topic": "t"})])

    from pydantic_ai.models.function import FunctionModel

    template = AgentTemplate(model=FunctionModel(child), trust_level=TrustLevel.LOW)
    spawn = make_spawn_agents_tool(runtime=runtime, template=template, output_type=Finding)
    runtime.tools.register("spawn_agents", spawn)
    children = [{"name": f"kid{i}", "instructions": "Look.", "input": f"t{i}"} for i in range(3)]
    boss = Agent(
        name="boss",
        model=calls_then_answers("spawn_agents", {"agents": children}),
        tools=("spawn_agents",),
    )
    result = await runtime.run(boss, "go")
    assert result.is_ok(), result.error
    spans = telemetry.finished()
    run = _one(spans, "invoke_agent boss")
    tool = _one(spans, "execute_tool spawn_agents")
    kids = [s for s in spans if s.name.startswith("invoke_agent kid")]
    assert sorted(s.name for s in kids) == [f"invoke_agent kid{i}" for i in range(3)]
    assert {_parent(k) for k in kids} == {tool.context.span_id}
    assert {s.context.trace_id for s in spans} == {run.context.trace_id}
    assert {k.attributes["murmur.depth"] for k in kids if k.attributes} == {1}


async def test_a_group_run_is_an_invoke_workflow_span_over_its_nodes(
    telemetry: Telemetry,
) -> None:
    """invoke_workflow {group}, its nodes' invoke_agent spans as children."""
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    first = Agent(name="first", model=answers("one"))
    second = Agent(name="second", model=answers("two"))
    group = AgentGroup(
        name="pipeline", agents={"first": first, "second": second}, edges=[Edge("first", "second")]
    )
    result = await runtime.run_group(group, TaskSpec(input="go"))
    assert result.error is None
    spans = telemetry.finished()
    workflow = _one(spans, "invoke_workflow pipeline")
    assert workflow.attributes is not None
    assert workflow.attributes[sc.WORKFLOW_NAME] == "pipeline"
    nodes = [_one(spans, "invoke_agent first"), _one(spans, "invoke_agent second")]
    assert {_parent(n) for n in nodes} == {workflow.context.span_id}
    assert {s.context.trace_id for s in spans} == {workflow.context.trace_id}


async def test_retries_are_visible_on_the_run_span(telemetry: Telemetry) -> None:
    """Each retry is a murmur.retry span event with its attempt number."""
    calls = []

    async def flaky(messages: list[Any], info: Any) -> ModelResponse:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("blip")
        return ModelResponse(parts=[TextPart("ok")])

    from pydantic_ai.models.function import FunctionModel

    runtime = AgentRuntime(
        RuntimeOptions(retry_max_attempts=3, retry_backoff_factor=0.0),
        event_emitter=telemetry.emitter,
    )
    result = await runtime.run(Agent(name="flaky", model=FunctionModel(flaky)), "x")
    assert result.is_ok()
    run = _one(telemetry.finished(), "invoke_agent flaky")
    assert [(e.name, dict(e.attributes or {})) for e in run.events] == [
        ("murmur.retry", {"murmur.attempt": 1, "murmur.next_attempt": 2}),
        ("murmur.retry", {"murmur.attempt": 2, "murmur.next_attempt": 3}),
    ]
    assert run.attributes is not None
    assert run.attributes["murmur.attempts"] == 3


async def test_a_run_hangs_under_the_callers_current_span(telemetry: Telemetry) -> None:
    """A top-level run started inside the application's own span is its child."""
    tracer = telemetry.tracer_provider.get_tracer("app")
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    with tracer.start_as_current_span("handle request") as outer:
        await runtime.run(Agent(name="inner", model=answers()), "x")
    run = _one(telemetry.finished(), "invoke_agent inner")
    assert _parent(run) == outer.get_span_context().span_id


class _Recording(Sampler):
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def should_sample(
        self, parent_context: Any, trace_id: int, name: str, *args: Any, **kwargs: Any
    ) -> SamplingResult:
        attributes = (
            kwargs.get("attributes")
            if "attributes" in kwargs
            else (args[1] if len(args) > 1 else None)
        )
        self.seen.append((name, dict(attributes or {})))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "recording"


async def test_samplers_see_operation_provider_and_model_at_start() -> None:
    """The attributes a sampler decides on are there when the span starts."""
    sampler = _Recording()
    provider = TracerProvider(sampler=sampler)
    emitter = OTelTraceEmitter(tracer_provider=provider)
    runtime = AgentRuntime(event_emitter=emitter)
    await runtime.run(Agent(name="sampled", model=answers()), "x")
    emitter.flush()
    (name, attributes), *_ = sampler.seen
    assert name == "invoke_agent sampled"
    assert {k: attributes[k] for k in (sc.OPERATION_NAME, sc.PROVIDER_NAME, sc.REQUEST_MODEL)} == {
        sc.OPERATION_NAME: "invoke_agent",
        sc.PROVIDER_NAME: "function",
        sc.REQUEST_MODEL: "scripted",
    }


async def test_a_fleet_run_is_one_trace_from_caller_to_worker(telemetry: Telemetry) -> None:
    """memory:// fleet: the caller's CLIENT span is the parent of the worker's span, whose
    tool calls are its children; the relayed copies add nothing on the caller."""
    url = f"memory://otel-{uuid.uuid4().hex}"
    agent = Agent(
        name="remote", model=calls_then_answers("lookup", {"city": "Rome"}), tools=("lookup",)
    )
    worker_runtime = AgentRuntime(event_emitter=telemetry.emitter)
    worker_runtime.tools.register("lookup", lambda city: f"sunny in {city}")
    worker = Worker(url, {"remote": agent}, runtime=worker_runtime)
    serving = asyncio.create_task(worker.start())
    await worker.wait_ready()
    try:
        async with AgentRuntime(broker=url, event_emitter=telemetry.emitter) as caller:
            result = await caller.run(Agent(name="remote", model="test"), "Rome?")
    finally:
        await worker.stop()
        await serving
    assert result.is_ok(), result.error
    spans = telemetry.finished()
    runs = [s for s in spans if s.name == "invoke_agent remote"]
    client = next(s for s in runs if s.kind is SpanKind.CLIENT)
    executed = next(s for s in runs if s.kind is SpanKind.INTERNAL)
    assert len(runs) == 2
    assert _parent(executed) == client.context.span_id
    tool = _one(spans, "execute_tool lookup")
    assert _parent(tool) == executed.context.span_id
    assert {s.context.trace_id for s in spans} == {client.context.trace_id}
    assert client.attributes is not None
    assert client.attributes["murmur.backend"] == "job"


async def test_every_span_started_is_ended(telemetry: Telemetry) -> None:
    """Successful, failed and denied runs leave no span open."""
    before = SPANS.open_spans()
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    await runtime.gather(Agent(name="ok", model=answers()), ["a", "b"])
    await runtime.run(Agent(name="ko", model=fails()), "x")
    telemetry.emitter.flush()  # every event handed to the SDK: starts and ends alike
    assert SPANS.open_spans() == before
    assert len(telemetry.named("invoke_agent ok")) == 2


async def test_pydantic_ai_spans_nest_under_the_run_and_tokens_count_once(
    telemetry: Telemetry,
) -> None:
    """With OTelContextMiddleware, an instrumented PydanticAI run's spans (its agent run,
    `chat` per request, its tool spans) are descendants of murmur's invoke_agent span, in
    one trace; tokens are counted once (by PydanticAI, per request)."""
    from murmur_otel import OTelContextMiddleware
    from pydantic_ai.models.instrumented import InstrumentationSettings, InstrumentedModel

    settings = InstrumentationSettings(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    runtime = AgentRuntime(event_emitter=telemetry.emitter, middleware=[OTelContextMiddleware()])
    runtime.tools.register("lookup", lambda city: f"sunny in {city}")
    model = InstrumentedModel(calls_then_answers("lookup", {"city": "Oslo"}), settings)
    agent = Agent(name="nested", model=model, tools=("lookup",))
    result = await runtime.run(agent, "Oslo?")
    assert result.is_ok(), result.error
    spans = telemetry.finished()
    by_id = {s.context.span_id: s for s in spans}
    ours = next(
        s
        for s in spans
        if s.instrumentation_scope
        and s.instrumentation_scope.name == "murmur"
        and s.name == "invoke_agent nested"
    )

    def descends(span: ReadableSpan) -> bool:
        while span.parent is not None:
            if span.parent.span_id == ours.context.span_id:
                return True
            span = by_id[span.parent.span_id]
        return False

    theirs = [
        s for s in spans if s.instrumentation_scope and s.instrumentation_scope.name != "murmur"
    ]
    assert [s.name for s in theirs if s.name.startswith("chat")] == ["chat scripted"] * 2
    assert all(descends(s) for s in theirs)
    assert ours.parent is None
    assert {s.context.trace_id for s in spans} == {ours.context.trace_id}
    usage = telemetry.points(sc.TOKEN_USAGE)
    assert sum(p.sum for p in usage) == result.metadata.input_tokens + result.metadata.output_tokens
    assert {p.attributes.get(sc.OPERATION_NAME) for p in usage} == {"chat"}


async def test_instrument_pydantic_ai_leaves_one_agent_run_span_and_one_tool_span(
    telemetry: Telemetry,
) -> None:
    """PydanticAI instrumented for every agent through `instrument_pydantic_ai`: inside a murmur
    run there is one `invoke_agent` span (murmur's) and one `execute_tool` span per call
    (murmur's), PydanticAI's `chat` spans are its children, tokens count once; a plain
    PydanticAI run outside murmur keeps PydanticAI's own agent-run span."""
    from murmur_otel import OTelContextMiddleware, instrument_pydantic_ai
    from pydantic_ai import Agent as PAAgent

    instrument_pydantic_ai(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    try:
        runtime = AgentRuntime(
            event_emitter=telemetry.emitter, middleware=[OTelContextMiddleware()]
        )
        runtime.tools.register("lookup", lambda city: f"sunny in {city}")
        agent = Agent(
            name="nested", model=calls_then_answers("lookup", {"city": "Oslo"}), tools=("lookup",)
        )
        result = await runtime.run(agent, "Oslo?")
        assert result.is_ok(), result.error
        spans = telemetry.finished()
        [run_span] = [s for s in spans if s.name.startswith("invoke_agent")]
        [tool_span] = [s for s in spans if s.name.startswith("execute_tool")]
        assert (_scope(run_span), _scope(tool_span)) == ("murmur", "murmur")
        chats = [s for s in spans if s.name.startswith("chat")]
        assert len(chats) == 2
        assert {_parent(s) for s in chats} == {run_span.context.span_id}
        assert {s.context.trace_id for s in spans} == {run_span.context.trace_id}
        usage = telemetry.points(sc.TOKEN_USAGE)
        assert sum(p.sum for p in usage) == (
            result.metadata.input_tokens + result.metadata.output_tokens
        )

        await PAAgent(answers("plain"), name="plain").run("hi")
        plain = [s for s in telemetry.finished() if s.name == "invoke_agent plain"]
        assert [_scope(s) for s in plain] == ["pydantic-ai"]
    finally:
        PAAgent.instrument_all(False)


async def test_agent_processes_are_workflow_spans_over_their_children_and_runs(
    telemetry: Telemetry, tmp_path: Path, monkeypatch: Any
) -> None:
    """A process is an invoke_workflow span; its child process and its agent's run hang
    under it; a cancelled child says so."""
    from murmur.processes import agent, agent_process, spawn, use_runtime

    monkeypatch.setenv("MURMUR_HOME", str(tmp_path))

    @agent_process
    async def idle() -> None:
        await asyncio.sleep(10)

    @agent_process
    async def child() -> str:
        helper = await agent("helper", model=answers("hi"))
        return await helper.send("hello")

    @agent_process(control=False)
    async def root() -> str:
        spawn(idle)
        return await child()

    with use_runtime(AgentRuntime(event_emitter=telemetry.emitter)):
        assert await root() == "hi"
    spans = telemetry.finished()
    top = _one(spans, "invoke_workflow root")
    inner = _one(spans, "invoke_workflow child")
    run = _one(spans, "invoke_agent helper")
    cancelled = _one(spans, "invoke_workflow idle")
    assert _parent(inner) == top.context.span_id
    assert _parent(cancelled) == top.context.span_id
    assert _parent(run) == inner.context.span_id
    assert cancelled.attributes is not None
    assert cancelled.attributes["murmur.outcome"] == "cancelled"
    assert top.attributes is not None
    assert (top.attributes["murmur.kind"], top.attributes["murmur.outcome"]) == ("process", "ok")

"""GenAI semantic-convention metrics and murmur's counters, read back from the SDK's
in-memory metric reader after real runs."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from murmur_otel import _semconv as sc
from pydantic_ai import Agent as PAAgent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings

from murmur import Agent, AgentRuntime, RuntimeOptions, TaskSpec, TrustLevel

sys.path.insert(0, str(Path(__file__).parent))

from _agents import answers, calls_then_answers, fails
from conftest import Telemetry, make_telemetry


def _lookup(city: str) -> str:
    return f"sunny in {city}"


def _runtime(telemetry: Telemetry, options: RuntimeOptions | None = None) -> AgentRuntime:
    runtime = AgentRuntime(options, event_emitter=telemetry.emitter)
    runtime.tools.register("lookup", _lookup, read_only=True)
    return runtime


async def test_a_run_records_the_genai_histograms_with_spec_names_units_and_buckets(
    telemetry: Telemetry,
) -> None:
    """Token usage, operation, agent and tool durations: spec names, units, buckets, attributes."""
    agent = Agent(
        name="weather", model=calls_then_answers("lookup", {"city": "Oslo"}), tools=("lookup",)
    )
    result = await _runtime(telemetry).run(agent, "Oslo?")
    assert result.is_ok()

    usage = telemetry.metric(sc.TOKEN_USAGE)
    assert usage.unit == "{token}"
    by_type = {p.attributes[sc.TOKEN_TYPE]: p for p in usage.data.data_points}
    assert sorted(by_type) == ["input", "output"]
    assert by_type["input"].sum == result.metadata.input_tokens
    assert by_type["output"].sum == result.metadata.output_tokens
    assert tuple(by_type["input"].explicit_bounds) == sc.TOKEN_BUCKETS
    assert dict(by_type["input"].attributes) == {
        sc.AGENT_NAME: "weather",
        sc.OPERATION_NAME: "invoke_agent",
        sc.PROVIDER_NAME: "function",
        sc.REQUEST_MODEL: "scripted",
        sc.RESPONSE_MODEL: "scripted",
        sc.TOKEN_TYPE: "input",
    }

    (operation,) = telemetry.points(sc.OPERATION_DURATION)
    assert telemetry.metric(sc.OPERATION_DURATION).unit == "s"
    assert tuple(operation.explicit_bounds) == sc.DURATION_BUCKETS
    assert operation.count == 1
    (invoke,) = telemetry.points(sc.AGENT_DURATION)
    assert tuple(invoke.explicit_bounds) == sc.AGENT_DURATION_BUCKETS
    assert invoke.attributes[sc.AGENT_NAME] == "weather"
    (tool,) = telemetry.points(sc.TOOL_DURATION)
    assert tuple(tool.explicit_bounds) == sc.DURATION_BUCKETS
    assert dict(tool.attributes) == {
        sc.AGENT_NAME: "weather",
        sc.TOOL_NAME: "lookup",
        sc.OPERATION_NAME: "execute_tool",
    }
    (runs,) = telemetry.points("murmur.runs")
    assert (dict(runs.attributes), runs.value) == (
        {sc.AGENT_NAME: "weather", "murmur.outcome": "ok"},
        1,
    )
    (calls,) = telemetry.points("murmur.tool_calls")
    assert calls.attributes["murmur.outcome"] == "ok"
    (active,) = telemetry.points("murmur.runs.active")
    assert active.value == 0


async def test_a_failed_run_carries_error_type_and_is_counted_by_code(
    telemetry: Telemetry,
) -> None:
    """A failure: error.type on the durations, murmur.runs by outcome and error code."""
    result = await _runtime(telemetry).run(Agent(name="brittle", model=fails()), "x")
    assert result.error is not None
    (operation,) = telemetry.points(sc.OPERATION_DURATION)
    assert operation.attributes[sc.ERROR_TYPE] == result.error.code
    (runs,) = telemetry.points("murmur.runs")
    assert dict(runs.attributes) == {
        sc.AGENT_NAME: "brittle",
        "murmur.outcome": "error",
        "murmur.error.code": result.error.code,
    }
    assert telemetry.points(sc.TOKEN_USAGE) == []


async def test_a_denied_tool_call_is_a_trust_rejection(telemetry: Telemetry) -> None:
    """The trust gate's refusal counts as a rejection and a denied tool call."""
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
    assert result.error.code == "trust_violation"
    (rejections,) = telemetry.points("murmur.trust.rejections")
    assert (dict(rejections.attributes), rejections.value) == (
        {sc.AGENT_NAME: "intern", sc.TOOL_NAME: "wipe_disk"},
        1,
    )
    (calls,) = telemetry.points("murmur.tool_calls")
    assert calls.attributes["murmur.outcome"] == "denied"
    assert calls.attributes[sc.ERROR_TYPE] == "trust_violation"


async def test_retries_are_counted(telemetry: Telemetry) -> None:
    """Every retried attempt counts once in murmur.retries."""
    attempts = []

    async def flaky(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("network blip")
        return ModelResponse(parts=[TextPart("ok")])

    runtime = _runtime(telemetry, RuntimeOptions(retry_max_attempts=3, retry_backoff_factor=0.0))
    result = await runtime.run(Agent(name="flaky", model=FunctionModel(flaky)), "x")
    assert result.is_ok()
    (retries,) = telemetry.points("murmur.retries")
    assert retries.value == 2


async def test_a_thousand_distinct_tasks_make_a_bounded_number_of_series(
    telemetry: Telemetry,
) -> None:
    """1,000 tasks with distinct ids, traces and inputs: as many series as one task, and no
    id or input in any attribute."""
    runtime = _runtime(telemetry)
    agent = Agent(name="echo", model=answers())
    await runtime.run(agent, TaskSpec(input="warm-up"))
    series_after_one = _series(telemetry)
    tasks = [TaskSpec(input=f"input-{uuid.uuid4().hex}") for _ in range(1000)]
    results = await runtime.gather(agent, tasks, max_concurrency=50)
    assert all(r.is_ok() for r in results)
    assert _series(telemetry) == series_after_one
    values = {str(v) for _, attrs in _all_points(telemetry) for v in attrs.values()}
    forbidden = {t.id for t in tasks} | {t.trace_id for t in tasks} | {t.input for t in tasks}
    assert values.isdisjoint(forbidden)
    (runs,) = telemetry.points("murmur.runs")
    assert runs.value == 1001


async def test_invented_agent_names_are_capped_per_attribute() -> None:
    """Past the cap, new agent names are recorded as _OTHER: the series count stops growing."""
    telemetry = make_telemetry()
    assert telemetry.emitter.metrics is not None
    telemetry.emitter.metrics._bounded.limit = 5
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    for i in range(20):
        await runtime.run(Agent(name=f"spawned-{i}", model=answers()), "x")
    names = {p.attributes[sc.AGENT_NAME] for p in telemetry.points("murmur.runs")}
    assert names == {f"spawned-{i}" for i in range(5)} | {"_OTHER"}


async def test_tokens_are_not_counted_twice_with_pydantic_ai_instrumentation_on() -> None:
    """PydanticAI's instrumentation records token usage per request; murmur then does not,
    and the total is the run's tokens once."""
    telemetry = make_telemetry()
    PAAgent.instrument_all(
        InstrumentationSettings(
            meter_provider=telemetry.meter_provider, tracer_provider=telemetry.tracer_provider
        )
    )
    try:
        agent = Agent(name="instrumented", model=answers("hello there"))
        result = await AgentRuntime(event_emitter=telemetry.emitter).run(agent, "hi")
    finally:
        PAAgent.instrument_all(False)
    assert result.is_ok()
    points = telemetry.points(sc.TOKEN_USAGE)
    assert points, "PydanticAI's own token usage is recorded"
    assert (
        sum(p.sum for p in points) == result.metadata.input_tokens + result.metadata.output_tokens
    )
    assert {p.attributes.get(sc.OPERATION_NAME) for p in points} == {"chat"}
    assert len(telemetry.points(sc.AGENT_DURATION)) == 1


def _all_points(telemetry: Telemetry) -> list[tuple[str, dict[str, object]]]:
    telemetry.emitter.flush()
    data = telemetry.reader.get_metrics_data()
    out = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out.extend((metric.name, dict(p.attributes or {})) for p in metric.data.data_points)
    return out


def _series(telemetry: Telemetry) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    return {
        (name, tuple(sorted((k, str(v)) for k, v in attrs.items())))
        for name, attrs in _all_points(telemetry)
    }


async def test_tool_calls_add_up_per_series_and_invented_tool_names_are_capped() -> None:
    """Repeated calls add up in one cumulative, monotonic series per agent and tool (the
    series a call records with are built once and reused); past the cap, tool names are
    _OTHER in the counter and the duration alike."""
    from opentelemetry.sdk.metrics.export import AggregationTemporality, Sum

    telemetry = make_telemetry()
    assert telemetry.emitter.metrics is not None
    telemetry.emitter.metrics._bounded.limit = 3
    runtime = AgentRuntime(event_emitter=telemetry.emitter)
    for i in range(6):
        runtime.tools.register(f"tool{i}", lambda: "done", read_only=True)
    for _ in range(2):
        for i in range(6):
            agent = Agent(name="a", model=calls_then_answers(f"tool{i}", {}), tools=(f"tool{i}",))
            assert (await runtime.run(agent, "x")).is_ok()

    calls = telemetry.metric("murmur.tool_calls").data
    assert isinstance(calls, Sum)
    assert calls.is_monotonic
    assert calls.aggregation_temporality is AggregationTemporality.CUMULATIVE
    counted = {p.attributes[sc.TOOL_NAME]: p.value for p in calls.data_points}
    assert counted == {"tool0": 2, "tool1": 2, "tool2": 2, "_OTHER": 6}
    timed = {p.attributes[sc.TOOL_NAME]: p.count for p in telemetry.points(sc.TOOL_DURATION)}
    assert timed == counted
    (active,) = telemetry.points("murmur.runs.active")
    assert active.value == 0
    (runs,) = telemetry.points("murmur.runs")
    assert runs.value == 12

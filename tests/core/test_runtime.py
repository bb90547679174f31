"""AgentRuntime.run / gather: typed results, one pipeline, failures as typed errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import (
    Agent,
    AgentRuntime,
    BudgetExceededError,
    EventType,
    RegistryError,
    RuntimeOptions,
    SpawnError,
    TaskSpec,
    TokenBudget,
)
from murmur.events import CollectingEventEmitter, RuntimeEvent
from murmur.execution import ExecutionContext
from murmur.middleware import Next
from murmur.models import ConcurrencyLimiter

from ._models import Gauge, echo_model, json_output, last_prompt


class Finding(BaseModel):
    question: str
    answer: str
    confidence: float


class Question(BaseModel):
    text: str
    priority: int


async def test_run_returns_typed_output(runtime: AgentRuntime) -> None:
    """A run's output is parsed and validated into the agent's output_type."""
    agent = Agent(
        name="researcher",
        model=json_output(lambda q: {"question": q, "answer": "yes", "confidence": 0.9}),
        output_type=Finding,
    )
    result = await runtime.run(agent, TaskSpec(input="What is NATS?"))
    assert result.is_ok()
    assert result.output == Finding(question="What is NATS?", answer="yes", confidence=0.9)
    meta = result.metadata
    assert meta.agent_name == "researcher"
    assert meta.backend == "async"
    assert meta.total_tokens > 0
    assert meta.trace_id == result.trace_id
    assert meta.duration_ms > 0


async def test_test_model_string_works(runtime: AgentRuntime) -> None:
    """The model string "test" runs offline and produces a valid typed output."""
    result = await runtime.run(Agent(name="t", model="test", output_type=Finding), "q")
    assert isinstance(result.output, Finding)


async def test_input_type_validation_never_calls_the_model(runtime: AgentRuntime) -> None:
    """Bad input is a typed error on the result; the model is never called."""
    gauge = Gauge()
    agent = Agent(name="typed", model=gauge.model(), input_type=Question)
    bad = await runtime.run(agent, TaskSpec(input={"text": "hi"}))
    assert not bad.is_ok()
    assert isinstance(bad.error, SpawnError)
    assert bad.error.code == "input_invalid"
    assert "priority" in str(bad.error)
    assert gauge.calls == 0
    good = await runtime.run(agent, TaskSpec(input={"text": "hi", "priority": 1}))
    assert good.is_ok()
    assert '"priority":1' in good.output
    assert gauge.calls == 1


async def test_failed_output_access_raises_the_typed_error(runtime: AgentRuntime) -> None:
    """Reading .output of a failed result raises its MurmurError; output_or_none is None."""
    # Built unchecked: Agent(...) itself rejects an unknown provider (test_model_strings.py).
    result = await runtime.run(Agent.model_construct(name="x", model="nope:missing"), "hi")
    assert isinstance(result.error, SpawnError)
    assert result.error.code == "unknown_model"
    assert "nope:missing" in str(result.error)
    assert result.output_or_none is None
    with pytest.raises(SpawnError):
        _ = result.output


async def test_run_by_registered_name(runtime: AgentRuntime) -> None:
    """runtime.register(agent) lets run("name") resolve it; unknown names are RegistryErrors."""
    runtime.register(Agent(name="echo", model=echo_model()))
    result = await runtime.run("echo", TaskSpec(input="hello"))
    assert result.output == "echo:hello"
    missing = await runtime.run("nobody", TaskSpec(input="x"))
    assert isinstance(missing.error, RegistryError)
    assert "echo" in str(missing.error)


async def test_gather_keeps_order_and_bounds_concurrency(runtime: AgentRuntime) -> None:
    """gather returns results in task order with never more than max_concurrency in flight."""
    gauge = Gauge()
    agent = Agent(name="worker", model=gauge.model(delay=0.02))
    tasks = [TaskSpec(input=f"q{i}") for i in range(30)]
    results = await runtime.gather(agent, tasks=tasks, max_concurrency=4)
    assert [r.output for r in results] == [f"done:q{i}" for i in range(30)]
    assert [r.task_id for r in results] == [t.id for t in tasks]
    assert gauge.peak == 4


async def test_gather_aggregates_partial_failures(runtime: AgentRuntime) -> None:
    """A failing task is a failed result in its slot; the others still succeed."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = last_prompt(messages)
        if prompt == "boom":
            raise RuntimeError("model exploded")
        return ModelResponse(parts=[TextPart(prompt.upper())])

    agent = Agent(name="mixed", model=FunctionModel(respond))
    results = await runtime.gather(agent, tasks=["a", "boom", "c"], max_concurrency=2)
    assert [r.is_ok() for r in results] == [True, False, True]
    assert isinstance(results[1].error, SpawnError)
    assert [r.output for r in results if r.is_ok()] == ["A", "C"]


async def test_run_and_gather_share_one_pipeline(events: CollectingEventEmitter) -> None:
    """A custom middleware sees runs started by both run and gather."""
    seen: list[str] = []

    async def spy(ctx: ExecutionContext, call_next: Next) -> Any:
        seen.append(ctx.task.input)
        return await call_next(ctx)

    runtime = AgentRuntime(event_emitter=events, middleware=[spy])
    agent = Agent(name="e", model=echo_model())
    await runtime.run(agent, "one")
    await runtime.gather(agent, ["two", "three"])
    assert sorted(seen) == ["one", "three", "two"]


async def test_events_carry_ids_for_every_run(runtime: AgentRuntime, events: Any) -> None:
    """Spawn and completion events carry agent, task, trace ids and a timestamp."""
    result = await runtime.run(Agent(name="e", model=echo_model()), TaskSpec(input="x"))
    spawned, completed = events.events
    assert spawned.event_type is EventType.AGENT_SPAWNED
    assert completed.event_type is EventType.AGENT_COMPLETED
    for event in (spawned, completed):
        assert event.agent_name == "e"
        assert event.task_id == result.task_id
        assert event.trace_id == result.trace_id
        assert event.parent_trace_id is None
        assert event.timestamp > 0
    assert completed.payload["input_tokens"] == result.metadata.input_tokens


async def test_failing_emitter_never_fails_a_run() -> None:
    """An emitter that raises is logged and ignored."""

    class Broken:
        async def emit(self, event: RuntimeEvent) -> None:
            raise RuntimeError("emitter down")

    runtime = AgentRuntime(event_emitter=Broken())
    result = await runtime.run(Agent(name="e", model=echo_model()), "x")
    assert result.output == "echo:x"


def _flaky(failures: int) -> tuple[FunctionModel, list[int]]:
    calls: list[int] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(1)
        if len(calls) <= failures:
            raise ModelHTTPError(status_code=503, model_name="flaky", body="overloaded")
        return ModelResponse(parts=[TextPart("recovered")])

    return FunctionModel(respond), calls


async def test_retry_recovers_from_transient_provider_errors(events: Any) -> None:
    """Provider errors are retried up to retry_max_attempts, with AGENT_RETRIED events."""
    model, calls = _flaky(2)
    runtime = AgentRuntime(
        options=RuntimeOptions(retry_max_attempts=3, retry_backoff_factor=0),
        event_emitter=events,
    )
    result = await runtime.run(Agent(name="flaky", model=model), "x")
    assert result.output == "recovered"
    assert result.metadata.attempts == 3
    assert len(calls) == 3
    assert len(events.of_type(EventType.AGENT_RETRIED)) == 2


async def test_retry_gives_up_after_max_attempts(events: Any) -> None:
    """After the last attempt the transient error is the result's error."""
    model, calls = _flaky(5)
    runtime = AgentRuntime(
        options=RuntimeOptions(retry_max_attempts=2, retry_backoff_factor=0),
        event_emitter=events,
    )
    result = await runtime.run(Agent(name="flaky", model=model), "x")
    assert isinstance(result.error, SpawnError)
    assert result.error.code == "provider_error"
    assert len(calls) == 2


async def test_validation_errors_are_not_retried(events: Any) -> None:
    """Input validation failures are never retried."""
    gauge = Gauge()
    runtime = AgentRuntime(
        options=RuntimeOptions(retry_max_attempts=3, retry_backoff_factor=0),
        event_emitter=events,
    )
    agent = Agent(name="typed", model=gauge.model(), input_type=Question)
    result = await runtime.run(agent, {"text": 1})
    assert result.error is not None
    assert result.error.code == "input_invalid"
    assert not events.of_type(EventType.AGENT_RETRIED)


async def test_timeout_bounds_a_hung_model(events: Any) -> None:
    """A model that never answers fails with a timeout BudgetExceededError."""

    async def hang(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    runtime = AgentRuntime(options=RuntimeOptions(timeout_seconds=0.2), event_emitter=events)
    result = await runtime.run(Agent(name="slow", model=FunctionModel(hang)), "x")
    assert isinstance(result.error, BudgetExceededError)
    assert result.error.code == "timeout"
    assert "timeout_seconds" in str(result.error)
    assert events.of_type(EventType.AGENT_FAILED)


async def test_token_budget_pre_checks_and_post_charges(events: Any) -> None:
    """Spend is charged after each run; an exhausted budget refuses the next run."""
    budget = TokenBudget(limit=60)
    gauge = Gauge()
    runtime = AgentRuntime(options=RuntimeOptions(token_budget=budget), event_emitter=events)
    agent = Agent(name="spender", model=gauge.model(delay=0))
    first = await runtime.run(agent, "x")
    assert first.is_ok()
    assert budget.used == first.metadata.total_tokens
    last = first
    for _ in range(20):
        if budget.used >= 60:
            break
        last = await runtime.run(agent, "x")
    assert budget.used >= 60
    calls_before = gauge.calls
    refused = await runtime.run(agent, "x")
    assert isinstance(refused.error, BudgetExceededError)
    assert gauge.calls == calls_before  # pre-check: the model was not called
    hits = events.of_type(EventType.BUDGET_EXCEEDED)
    assert hits
    assert hits[-1].payload["phase"] == "pre_check"
    assert last is not None


async def test_budget_overrun_fails_the_run_with_an_event(events: Any) -> None:
    """A run that goes over the budget mid-run fails with BudgetExceededError after the event."""
    budget = TokenBudget(limit=10)
    runtime = AgentRuntime(options=RuntimeOptions(token_budget=budget), event_emitter=events)
    result = await runtime.run(Agent(name="big", model=echo_model()), "x" * 200)
    assert isinstance(result.error, BudgetExceededError)
    types = events.types()
    assert types.index(EventType.BUDGET_EXCEEDED) < types.index(EventType.AGENT_FAILED)


async def test_per_task_budget(runtime: AgentRuntime) -> None:
    """TaskSpec(token_budget=...) is checked in addition to the runtime's budget."""
    budget = TokenBudget(limit=0, name="tiny")
    result = await runtime.run(
        Agent(name="e", model=echo_model()), TaskSpec(input="x", token_budget=budget)
    )
    assert isinstance(result.error, BudgetExceededError)
    assert "tiny" in str(result.error)


async def test_fallback_models_serve_when_the_primary_fails(runtime: AgentRuntime) -> None:
    """fallback_models wrap the primary in FallbackModel."""

    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ModelHTTPError(status_code=500, model_name="primary")

    agent = Agent(name="resilient", model=FunctionModel(broken), fallback_models=(echo_model(),))
    result = await runtime.run(agent, "hi")
    assert result.output == "echo:hi"


async def test_max_concurrent_requests_caps_provider_calls(runtime: AgentRuntime) -> None:
    """max_concurrent_requests bounds in-flight model requests even when gather allows more."""
    gauge = Gauge()
    agent = Agent(name="capped", model=gauge.model(delay=0.02), max_concurrent_requests=2)
    results = await runtime.gather(agent, [str(i) for i in range(10)], max_concurrency=10)
    assert all(r.is_ok() for r in results)
    assert gauge.peak == 2


async def test_shared_limiter_caps_across_agents(runtime: AgentRuntime) -> None:
    """One ConcurrencyLimiter shared by two agents caps their combined requests."""
    gauge = Gauge()
    pool = ConcurrencyLimiter(max_running=3, name="pool")
    head = Agent(name="head", model=gauge.model(0.02), model_concurrency_limiter=pool)
    minion = Agent(name="minion", model=gauge.model(0.02), model_concurrency_limiter=pool)
    await asyncio.gather(
        runtime.gather(head, [str(i) for i in range(6)], max_concurrency=6),
        runtime.gather(minion, [str(i) for i in range(6)], max_concurrency=6),
    )
    assert gauge.peak == 3


async def test_pre_and_post_process_hooks(runtime: AgentRuntime) -> None:
    """pre_process transforms the input, post_process the output, inside the run."""
    agent = Agent(
        name="hooks",
        model=echo_model(),
        pre_process=(str.upper,),
        post_process=(lambda out: out + "!",),
    )
    result = await runtime.run(agent, "hi")
    assert result.output == "echo:HI!"


async def test_runtime_closes_and_refuses_new_work() -> None:
    """async with closes the runtime; a closed runtime gives a typed error."""
    async with AgentRuntime(event_emitter=CollectingEventEmitter()) as runtime:
        assert (await runtime.run(Agent(name="e", model=echo_model()), "x")).is_ok()
    await runtime.aclose()  # idempotent


def test_invalid_options_are_typed_errors() -> None:
    """Nonsense options raise MurmurErrors that say which option."""
    with pytest.raises(SpawnError, match="timeout_seconds"):
        RuntimeOptions(timeout_seconds=0)
    with pytest.raises(SpawnError, match="retry_max_attempts"):
        RuntimeOptions(retry_max_attempts=0)


def test_unknown_broker_scheme_fails_at_construction() -> None:
    """An unknown scheme raises a RegistryError naming it and the schemes available."""
    with pytest.raises(RegistryError) as caught:
        AgentRuntime(broker="zmq://127.0.0.1:5555")
    message = str(caught.value)
    assert '"zmq://127.0.0.1:5555"' in message
    assert "available:" in message
    assert "memory" in message


def test_unknown_store_scheme_fails_at_construction() -> None:
    """An unknown store URL raises a RegistryError at construction."""
    with pytest.raises(RegistryError, match="available"):
        AgentRuntime(store="cassandra://db")

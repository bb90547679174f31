"""The run's frame (`murmur._run.RunFrame`) does what the caller's stages composed do.

A plain runtime runs spawn control, observability and prepare as phases of one frame and
awaits the PydanticAI run there; user middleware sends the run through the inner stages
composed; a run store sends it through every stage composed. The three give the same events,
results and refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, EventType, RuntimeOptions, SpawnError, TaskSpec
from murmur.backends._pydantic_ai import PydanticAIExecutor
from murmur.events import CollectingEventEmitter
from murmur.execution import ExecutionContext
from murmur.execution._outcome import ExecutionOutcome
from murmur.middleware import Next

from ._models import echo_model

PATHS = ["frame", "inner", "composed"]


def _passing(ctx: ExecutionContext, call_next: Next) -> Awaitable[ExecutionOutcome]:
    return call_next(ctx)


def _runtime(path: str, events: CollectingEventEmitter, **options: Any) -> AgentRuntime:
    """A runtime taking `path`: the frame alone, the inner stages composed, or all of them."""
    return AgentRuntime(
        RuntimeOptions(**options),
        event_emitter=events,
        middleware=[_passing] if path == "inner" else (),
        store="memory://" if path == "composed" else None,
    )


def _lifecycle(events: CollectingEventEmitter) -> list[tuple[EventType, list[str]]]:
    """Each event's type and payload keys."""
    return [(e.event_type, sorted(e.payload)) for e in events.events]


def _raising(exc: Exception) -> FunctionModel:
    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise exc

    return FunctionModel(respond)


class Question(BaseModel):
    text: str


async def _run_each(
    make: Callable[[AgentRuntime], Awaitable[Any]], **options: Any
) -> dict[str, tuple[Any, list[tuple[EventType, list[str]]]]]:
    found = {}
    for path in PATHS:
        events = CollectingEventEmitter()
        runtime = _runtime(path, events, **options)
        try:
            found[path] = (await make(runtime), _lifecycle(events))
        finally:
            await runtime.aclose()
    return found


def _same(found: dict[str, tuple[Any, Any]]) -> tuple[Any, Any]:
    first = found["frame"]
    for path in PATHS[1:]:
        assert found[path] == first, path
    return first


def _summary(result: Any) -> tuple[Any, ...]:
    meta = result.metadata
    error = (type(result.error).__name__, result.error.code) if result.error else None
    return (
        result.output if result.is_ok() else None,
        error,
        meta.agent_name,
        meta.input_tokens,
        meta.output_tokens,
        meta.requests,
        meta.model,
        meta.backend,
        meta.attempts,
        meta.depth,
        meta.duration_ms > 0,
    )


async def test_a_run_gives_the_same_result_and_events_on_every_path() -> None:
    agent = Agent(name="echo", model=echo_model())

    async def make(runtime: AgentRuntime) -> Any:
        return _summary(await runtime.run(agent, TaskSpec(input="hi")))

    summary, lifecycle = _same(await _run_each(make))
    assert summary[0] == "echo:hi"
    assert [t for t, _ in lifecycle] == [EventType.AGENT_SPAWNED, EventType.AGENT_COMPLETED]


async def test_a_failing_model_fails_the_same_way_on_every_path() -> None:
    agent = Agent(name="broken", model=_raising(RuntimeError("the provider fell over")))

    async def make(runtime: AgentRuntime) -> Any:
        return _summary(await runtime.run(agent, "hi"))

    summary, lifecycle = _same(await _run_each(make))
    assert summary[1] is not None
    assert [t for t, _ in lifecycle] == [EventType.AGENT_SPAWNED, EventType.AGENT_FAILED]


async def test_invalid_input_fails_in_prepare_on_every_path() -> None:
    agent = Agent(name="typed", model=echo_model(), input_type=Question)

    async def make(runtime: AgentRuntime) -> Any:
        return _summary(await runtime.run(agent, {"nope": 1}))

    summary, lifecycle = _same(await _run_each(make))
    assert summary[1] == ("SpawnError", "input_invalid")
    assert [t for t, _ in lifecycle] == [EventType.AGENT_SPAWNED, EventType.AGENT_FAILED]


async def test_a_refused_run_never_starts_on_every_path() -> None:
    agent = Agent(name="echo", model=echo_model())

    async def make(runtime: AgentRuntime) -> Any:
        first = await runtime.run(agent, "one")
        second = await runtime.run(agent, "two")
        return _summary(first), _summary(second)

    (first, second), lifecycle = _same(await _run_each(make, max_total_spawns=1))
    assert first[1] is None
    assert second[1] == ("SpawnCapError", "spawn_cap")
    assert [t for t, _ in lifecycle] == [
        EventType.AGENT_SPAWNED,
        EventType.AGENT_COMPLETED,
        EventType.SPAWN_REFUSED,
    ]


async def test_post_process_applies_on_every_path() -> None:
    agent = Agent(name="echo", model=echo_model(), post_process=[str.upper])

    async def make(runtime: AgentRuntime) -> Any:
        return _summary(await runtime.run(agent, "hi"))

    summary, _ = _same(await _run_each(make))
    assert summary[0] == "ECHO:HI"


@pytest.mark.parametrize(
    ("middleware", "executes"),
    [((), 0), ((_passing,), 1)],
    ids=["frame-awaits-the-model", "middleware-composed"],
)
async def test_the_frame_awaits_the_model_itself_only_when_no_stage_has_work(
    monkeypatch: pytest.MonkeyPatch, middleware: tuple[Any, ...], executes: int
) -> None:
    calls = 0
    execute = PydanticAIExecutor.execute

    async def counted(self: PydanticAIExecutor, ctx: ExecutionContext, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        return await execute(self, ctx, **kw)

    monkeypatch.setattr(PydanticAIExecutor, "execute", counted)
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter(), middleware=middleware)
    result = await runtime.run(Agent(name="echo", model=echo_model()), "hi")
    assert result.output == "echo:hi"
    assert calls == executes


async def test_a_context_without_a_runtime_is_a_failed_result_not_a_raise() -> None:
    """A context built by hand without its runtime cannot run (no tools to resolve)."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    ctx = runtime.context_for(Agent(name="echo", model=echo_model()), TaskSpec(input="hi"))
    ctx.runtime = None
    result = await runtime.execute_context(ctx)
    assert not result.is_ok()
    assert isinstance(result.error, SpawnError)

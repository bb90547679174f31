"""Synchronous emitters: `emit_nowait` is called directly only where it stands for `emit`.

A runtime calls an emitter's `emit_nowait(event)` instead of awaiting `emit(event)` when the
class that defines `emit` also defines `emit_nowait`. A subclass that overrides `emit` alone
must still be awaited (its override would otherwise be skipped); one that overrides
`emit_nowait` alone is reached either way.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, EventType, RuntimeEvent, TaskSpec
from murmur.events import (
    CollectingEventEmitter,
    LogEventEmitter,
    MultiEventEmitter,
    NullEventEmitter,
)
from murmur.events._emitters import DELIVERED, emit_nowait_of, emit_run_of
from murmur.hookspecs import hookimpl
from murmur.plugins import PluginHost, PluginIndex

AGENT = Agent(name="echo", model="test")


@pytest.fixture(autouse=True)
def structlog_unconfigured() -> Iterator[None]:
    """These tests are about the default console lines: no structlog configuration left by
    another test in this process (e.g. `murmur-mcp serve`'s), restored afterwards."""
    structlog = sys.modules.get("structlog")
    if structlog is None or not structlog.is_configured():
        yield
        return
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        yield
    finally:
        structlog.configure(**saved)


class OnlyEmitOverridden(CollectingEventEmitter):
    """Overrides `emit` alone: filters out tool events."""

    async def emit(self, event: RuntimeEvent) -> None:
        if event.event_type is not EventType.AGENT_SPAWNED:
            self.events.append(event)


class OnlyNowaitOverridden(CollectingEventEmitter):
    """Overrides `emit_nowait` alone: tags what it keeps."""

    def emit_nowait(self, event: RuntimeEvent) -> None:
        self.events.append(event.model_copy(update={"payload": {"tagged": True}}))


def _model_down(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise RuntimeError("provider down")


class TakesRunFields(CollectingEventEmitter):
    """Takes the events about a run as their fields (`emit_run`), but not the failures."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[EventType, str, str, str, str | None, dict[str, object]]] = []

    def emit_nowait(self, event: RuntimeEvent) -> None:
        self.events.append(event)

    def emit_run(
        self,
        event_type: EventType,
        agent_name: str,
        task_id: str,
        trace_id: str,
        parent_trace_id: str | None,
        payload: dict[str, object],
    ) -> bool:
        if event_type is EventType.AGENT_FAILED:
            return False  # wants the event built
        self.fields.append((event_type, agent_name, task_id, trace_id, parent_trace_id, payload))
        return True


class RunFieldsNowaitOverridden(TakesRunFields):
    """Overrides `emit_nowait` alone: every event must reach the override, built."""

    def emit_nowait(self, event: RuntimeEvent) -> None:
        self.events.append(event)


class Failing(CollectingEventEmitter):
    def emit_nowait(self, event: RuntimeEvent) -> None:
        raise RuntimeError("emitter down")


def test_which_emitters_are_called_synchronously() -> None:
    assert emit_nowait_of(LogEventEmitter()) is not None
    assert emit_nowait_of(NullEventEmitter()) is not None
    assert emit_nowait_of(CollectingEventEmitter()) is not None
    assert emit_nowait_of(OnlyEmitOverridden()) is None
    assert emit_nowait_of(OnlyNowaitOverridden()) is not None
    assert emit_nowait_of(object()) is None


def test_which_emitters_take_a_run_s_events_as_fields() -> None:
    """`emit_run` stands for `emit_nowait` only when one class defines both."""
    assert emit_run_of(LogEventEmitter()) is not None
    assert emit_run_of(TakesRunFields()) is not None
    assert emit_run_of(RunFieldsNowaitOverridden()) is None
    assert emit_run_of(NullEventEmitter()) is None
    assert emit_run_of(CollectingEventEmitter()) is None
    assert emit_run_of(object()) is None


async def test_an_emitter_taking_fields_gets_a_run_s_events_unbuilt() -> None:
    """The events about a run reach `emit_run` as the fields the built event would carry;
    one it declines (False) is built and given to `emit_nowait`; other events are built."""
    emitter = TakesRunFields()
    runtime = AgentRuntime(event_emitter=emitter)
    spec = TaskSpec(input="hi")

    assert (await runtime.run(AGENT, spec)).is_ok()
    failed = await runtime.run(Agent(name="broken", model=FunctionModel(_model_down)), "hi")
    await runtime.emit(RuntimeEvent(event_type=EventType.GROUP_STARTED))

    assert not failed.is_ok()
    spawned, completed, broken_spawned = emitter.fields
    assert spawned[:5] == (EventType.AGENT_SPAWNED, "echo", spec.id, spec.trace_id, None)
    assert spawned[5] == {"model": "test", "depth": 0, "backend": "async"}
    assert completed[:4] == (EventType.AGENT_COMPLETED, "echo", spec.id, spec.trace_id)
    assert completed[5]["attempts"] == 1
    assert broken_spawned[:2] == (EventType.AGENT_SPAWNED, "broken")
    assert emitter.types() == [EventType.AGENT_FAILED, EventType.GROUP_STARTED]
    assert emitter.events[0].agent_name == "broken"


async def test_a_subclass_overriding_emit_nowait_gets_every_event_built() -> None:
    emitter = RunFieldsNowaitOverridden()
    runtime = AgentRuntime(event_emitter=emitter)

    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()

    assert emitter.fields == []
    assert emitter.types() == [EventType.AGENT_SPAWNED, EventType.AGENT_COMPLETED]


async def test_delivered_is_awaitable_again_and_again() -> None:
    for _ in range(3):
        assert await DELIVERED is None


async def test_a_subclass_overriding_emit_alone_is_awaited() -> None:
    emitter = OnlyEmitOverridden()
    runtime = AgentRuntime(event_emitter=emitter)

    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()

    assert emitter.types() == [EventType.AGENT_COMPLETED]


async def test_a_subclass_overriding_emit_nowait_alone_is_reached() -> None:
    emitter = OnlyNowaitOverridden()
    runtime = AgentRuntime(event_emitter=emitter)

    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()
    await runtime.emit(RuntimeEvent(event_type=EventType.GROUP_STARTED))

    assert emitter.types() == [
        EventType.AGENT_SPAWNED,
        EventType.AGENT_COMPLETED,
        EventType.GROUP_STARTED,
    ]
    assert all(event.payload == {"tagged": True} for event in emitter.events)


async def test_a_failing_synchronous_emitter_never_fails_the_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runtime = AgentRuntime(event_emitter=Failing())

    result = await runtime.run(AGENT, TaskSpec(input="hi"))

    assert result.is_ok()
    assert "emitter_failed" in capsys.readouterr().err


async def test_replacing_the_emitter_takes_effect_for_the_next_event() -> None:
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    assert not runtime.observed
    collected = CollectingEventEmitter()

    runtime.event_emitter = collected
    assert runtime.observed
    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()

    assert collected.types() == [EventType.AGENT_SPAWNED, EventType.AGENT_COMPLETED]
    assert runtime.event_emitter is collected


async def test_a_plugin_registered_later_hears_the_next_event() -> None:
    heard: list[RuntimeEvent] = []

    class Listener:
        @hookimpl
        def murmur_event(self, event: RuntimeEvent) -> None:
            heard.append(event)

    kernel = [d for d in PluginIndex.scan(disabled=()).distributions if d.name == "murmur-core"]
    host = PluginHost(index=PluginIndex(kernel))  # no installed plugin listening
    assert not host.hears_events
    runtime = AgentRuntime(event_emitter=NullEventEmitter(), plugins=host)
    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()
    assert heard == []

    host.register(Listener())
    assert runtime.observed
    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()

    assert [event.event_type for event in heard] == [
        EventType.AGENT_SPAWNED,
        EventType.AGENT_COMPLETED,
    ]


def test_a_run_line_is_the_line_of_the_event(capsys: pytest.CaptureFixture[str]) -> None:
    """The default emitter's line written from a run's fields, without the event, is the line
    `emit` writes for the event built from them."""
    emitter = LogEventEmitter()
    payload = {"model": "test", "depth": 1, "backend": "async", "note": "two words"}
    event = RuntimeEvent(
        event_type=EventType.AGENT_SPAWNED,
        agent_name="echo",
        task_id="t1",
        trace_id="a" * 32,
        parent_trace_id="b" * 32,
        payload=payload,
    )

    assert emitter.emit_run(EventType.AGENT_SPAWNED, "echo", "t1", "a" * 32, "b" * 32, payload)
    emitter.emit_nowait(event)

    first, second = capsys.readouterr().err.splitlines()
    assert first == second
    assert "note='two words'" in first


async def test_a_given_logger_gets_every_event_of_a_run() -> None:
    """With a logger given (or structlog configured, or a plugin hearing events), the event is
    built and logged as before."""
    lines: list[tuple[str, str, dict[str, object]]] = []

    class Logger:
        def info(self, event: str, **fields: object) -> None:
            lines.append(("info", event, fields))

        def error(self, event: str, **fields: object) -> None:
            lines.append(("error", event, fields))

    emitter = LogEventEmitter(Logger())
    assert not emitter.emit_run(EventType.AGENT_SPAWNED, "echo", "t", "x", None, {})
    runtime = AgentRuntime(event_emitter=emitter)

    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()

    assert [(level, event) for level, event, _ in lines] == [
        ("info", "agent_spawned"),
        ("info", "agent_completed"),
    ]
    assert lines[1][2]["agent"] == "echo"


class _BrokenStderr:
    """A stderr that fails every run's line (murmur's `emitter_failed` warning gets through)."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, text: str) -> int:
        if "emitter_failed" not in text and "agent_" in text:
            raise OSError("stderr is gone")
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


async def test_a_log_line_that_cannot_be_written_never_fails_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stderr = _BrokenStderr()
    monkeypatch.setattr("sys.stderr", stderr)

    result = await AgentRuntime().run(AGENT, TaskSpec(input="hi"))

    assert result.is_ok()
    assert any("agent_spawned" in line for line in stderr.written)


async def test_a_top_level_context_with_an_inherited_depth_limit_is_still_refused() -> None:
    """A context carrying a caller's limit (as a delivered envelope does) is checked in full."""
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    ctx = runtime.context_for(AGENT, TaskSpec(input="hi"))
    ctx.depth, ctx.max_depth = 3, 2

    result = await runtime.execute_context(ctx)

    assert not result.is_ok()
    assert result.error is not None
    assert result.error.code == "depth_limit"


class Awaited:
    """An asynchronous emitter: `emit` alone, which suspends before it keeps the event."""

    def __init__(self) -> None:
        self.events: list[RuntimeEvent] = []

    def types(self) -> list[EventType]:
        return [e.event_type for e in self.events]

    async def emit(self, event: RuntimeEvent) -> None:
        await asyncio.sleep(0)
        self.events.append(event)


def test_a_multi_emitter_is_synchronous_when_every_emitter_in_it_is() -> None:
    """Decided per instance, and again when its emitters are replaced; nested ones too."""
    synchronous = MultiEventEmitter([LogEventEmitter(), TakesRunFields()])
    mixed = MultiEventEmitter([LogEventEmitter(), Awaited()])

    assert emit_nowait_of(synchronous) is not None
    assert emit_run_of(synchronous) is not None
    assert emit_nowait_of(mixed) is None
    assert emit_run_of(mixed) is None
    assert emit_nowait_of(MultiEventEmitter([synchronous, NullEventEmitter()])) is not None
    assert emit_nowait_of(MultiEventEmitter([synchronous, mixed])) is None
    assert emit_nowait_of(MultiEventEmitter(e for e in [NullEventEmitter()])) is not None

    synchronous.emitters = [*synchronous.emitters, Awaited()]
    assert emit_nowait_of(synchronous) is None
    assert emit_run_of(synchronous) is None
    mixed.emitters = mixed.emitters[:1]
    assert emit_run_of(mixed) is not None


async def test_a_multi_emitter_hands_each_emitter_a_run_s_events_the_way_it_takes_them() -> None:
    """Fields to an emitter that takes them, one built event (the same object) to the
    others, a declined event built once; a failing emitter stops none of the others."""
    fields, collected, other = TakesRunFields(), CollectingEventEmitter(), CollectingEventEmitter()
    runtime = AgentRuntime(event_emitter=MultiEventEmitter([fields, Failing(), collected, other]))
    spec = TaskSpec(input="hi")

    assert (await runtime.run(AGENT, spec)).is_ok()
    failed = await runtime.run(Agent(name="broken", model=FunctionModel(_model_down)), "hi")

    assert not failed.is_ok()
    spawned, completed, broken_spawned = fields.fields
    assert spawned[:5] == (EventType.AGENT_SPAWNED, "echo", spec.id, spec.trace_id, None)
    assert completed[0] is EventType.AGENT_COMPLETED
    assert broken_spawned[:2] == (EventType.AGENT_SPAWNED, "broken")
    assert fields.types() == [EventType.AGENT_FAILED]
    expected = [
        EventType.AGENT_SPAWNED,
        EventType.AGENT_COMPLETED,
        EventType.AGENT_SPAWNED,
        EventType.AGENT_FAILED,
    ]
    assert collected.types() == other.types() == expected
    assert all(a is b for a, b in zip(collected.events, other.events, strict=True))
    assert fields.events[0] is collected.events[3]
    assert collected.events[0].task_id == spec.id
    assert collected.events[1].payload == completed[5]


async def test_a_multi_emitter_with_an_asynchronous_emitter_delivers_to_all(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The synchronous emitters take an event at once, the asynchronous ones are awaited
    (several concurrently); a failure of either kind is logged and stops nothing."""

    class Broken:
        async def emit(self, event: RuntimeEvent) -> None:
            raise RuntimeError("broker down")

    collected, first, second = CollectingEventEmitter(), Awaited(), Awaited()
    one = MultiEventEmitter([first, Failing(), collected])
    several = MultiEventEmitter([Broken(), collected, second, first])
    runtime = AgentRuntime(event_emitter=one)

    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()
    runtime.event_emitter = several
    assert (await runtime.run(AGENT, TaskSpec(input="hi"))).is_ok()

    assert len(collected.events) == 4
    assert first.events == collected.events
    assert second.events == collected.events[2:]
    assert capsys.readouterr().err.count("emitter_failed") == 4


async def test_an_asynchronous_emitter_set_on_a_runtime_s_multi_emitter_gets_every_event() -> None:
    """The runtime found its `MultiEventEmitter` synchronous; emitters set on it later,
    asynchronous ones included, still get every event (those in a task of their own)."""
    collected, fields, later = CollectingEventEmitter(), TakesRunFields(), Awaited()
    multi = MultiEventEmitter([collected])
    runtime = AgentRuntime(event_emitter=multi)
    assert (await runtime.run(AGENT, TaskSpec(input="one"))).is_ok()

    multi.emitters = [*multi.emitters, fields, later]
    assert (await runtime.run(AGENT, TaskSpec(input="two"))).is_ok()
    await runtime.emit(RuntimeEvent(event_type=EventType.GROUP_STARTED))
    for _ in range(10):  # the tasks delivering to `later` run
        await asyncio.sleep(0)

    assert len(collected.events) == 5
    assert [f[0] for f in fields.fields] == [EventType.AGENT_SPAWNED, EventType.AGENT_COMPLETED]
    assert fields.types() == [EventType.GROUP_STARTED]
    assert later.types() == collected.types()[2:]
    assert [e.id for e in later.events] == [e.id for e in collected.events[2:]]

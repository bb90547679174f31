"""Native tools run inside the runtime, gated by trust level, with lifecycle events."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic_ai import FunctionToolset

from murmur import (
    Agent,
    AgentRuntime,
    EventType,
    RegistryError,
    TaskSpec,
    ToolExecutionError,
    TrustLevel,
    TrustViolationError,
)
from murmur.events import CollectingEventEmitter

from ._models import echo_model, tool_calling_model


def _runtime_with_tools(events: CollectingEventEmitter) -> tuple[AgentRuntime, list[str]]:
    runtime = AgentRuntime(event_emitter=events)
    calls: list[str] = []

    def lookup(key: str) -> str:
        """Read a value."""
        calls.append(f"lookup:{key}")
        return f"value-of-{key}"

    def delete(key: str) -> str:
        """Delete a value."""
        calls.append(f"delete:{key}")
        return "deleted"

    runtime.tools.register("lookup", lookup, read_only=True)
    runtime.tools.register("delete", delete)
    return runtime, calls


@pytest.mark.parametrize(
    ("trust", "tool", "allowed"),
    [
        (TrustLevel.HIGH, "delete", True),
        (TrustLevel.MEDIUM, "delete", True),
        (TrustLevel.LOW, "lookup", True),
        (TrustLevel.LOW, "delete", False),
        (TrustLevel.SANDBOX, "lookup", False),
    ],
)
async def test_trust_levels_gate_declared_tools(
    events: CollectingEventEmitter, trust: TrustLevel, tool: str, allowed: bool
) -> None:
    """HIGH/MEDIUM call declared tools; LOW only read-only ones; SANDBOX none."""
    runtime, calls = _runtime_with_tools(events)
    agent = Agent(
        name="a",
        model=tool_calling_model(tool, {"key": "k"}),
        tools=(tool,),
        trust_level=trust,
    )
    result = await runtime.run(agent, "go")
    if allowed:
        assert result.output == f"ok:{'value-of-k' if tool == 'lookup' else 'deleted'}"
        assert calls == [f"{tool}:k"]
    else:
        assert isinstance(result.error, TrustViolationError)
        assert trust.value in str(result.error)
        assert calls == []


async def test_provider_tools_pass_the_same_gate(events: CollectingEventEmitter) -> None:
    """A toolset from a provider: MEDIUM needs the tool on its allow-list, HIGH does not."""
    runtime = AgentRuntime(event_emitter=events)
    provided: FunctionToolset[Any] = FunctionToolset()
    hits: list[int] = []

    @provided.tool_plain
    def remote_search(query: str) -> str:
        """Search remotely."""
        hits.append(1)
        return "found"

    model = tool_calling_model("remote_search", {"query": "q"})
    medium = Agent(name="m", model=model, mcp_servers=(provided,), trust_level=TrustLevel.MEDIUM)
    denied = await runtime.run(medium, "go")
    assert isinstance(denied.error, TrustViolationError)
    assert "allow-list" in str(denied.error)
    allowed = medium.model_copy(update={"tools": ()}).model_copy(
        update={"trust_level": TrustLevel.HIGH}
    )
    ok = await runtime.run(allowed, "go")
    assert ok.output == "ok:found"
    assert hits == [1]


async def test_tool_calls_emit_lifecycle_events(events: CollectingEventEmitter) -> None:
    """Each tool call emits TOOL_CALL_STARTED then TOOL_CALL_COMPLETED with its duration."""
    runtime, _ = _runtime_with_tools(events)
    agent = Agent(name="a", model=tool_calling_model("lookup", {"key": "z"}), tools=("lookup",))
    result = await runtime.run(agent, "go")
    assert result.metadata.tool_calls == 1
    started = events.of_type(EventType.TOOL_CALL_STARTED)
    completed = events.of_type(EventType.TOOL_CALL_COMPLETED)
    assert [e.payload["tool"] for e in started] == ["lookup"]
    assert completed[0].payload["duration_ms"] >= 0
    assert completed[0].trace_id == result.trace_id


async def test_a_failing_tool_is_a_tool_execution_error(events: CollectingEventEmitter) -> None:
    """A tool that raises fails the run with ToolExecutionError and a TOOL_CALL_FAILED event."""
    runtime = AgentRuntime(event_emitter=events)

    def explode(key: str) -> str:
        """Always fails."""
        raise OSError("disk on fire")

    runtime.tools.register("explode", explode)
    agent = Agent(name="a", model=tool_calling_model("explode", {"key": "k"}), tools=("explode",))
    result = await runtime.run(agent, "go")
    assert isinstance(result.error, ToolExecutionError)
    assert "disk on fire" in str(result.error)
    assert events.of_type(EventType.TOOL_CALL_FAILED)


async def test_unregistered_tool_is_a_registry_error(runtime: AgentRuntime) -> None:
    """Declaring a tool nobody registered fails with a message saying how to register it."""
    agent = Agent(name="a", model="test", tools=("ghost",))
    result = await runtime.run(agent, "go")
    assert isinstance(result.error, RegistryError)
    assert "runtime.tools.register('ghost'" in str(result.error)


def test_registry_rejects_silent_replacement() -> None:
    """Registering a different function under a taken name needs replace=True."""
    runtime = AgentRuntime()
    runtime.tools.register("t", len)
    with pytest.raises(RegistryError, match="replace=True"):
        runtime.tools.register("t", print)
    runtime.tools.register("t", print, replace=True)

    @runtime.tools.register("decorated", read_only=True)
    def decorated() -> int:
        return 1

    assert runtime.tools.get("decorated").read_only
    assert runtime.tools.names() == ["decorated", "t"]


async def test_a_tool_that_runs_an_agent_creates_a_child_run(
    events: CollectingEventEmitter,
) -> None:
    """runtime.run inside a tool is a child: depth 1, parent_trace_id = the caller's trace."""
    runtime = AgentRuntime(event_emitter=events)
    child = Agent(name="child", model=echo_model())
    depths: list[int] = []

    async def delegate(question: str) -> str:
        """Ask the child agent."""
        result = await runtime.run(child, TaskSpec(input=question))
        depths.append(result.metadata.depth)
        return result.output

    runtime.tools.register("delegate", delegate)
    parent = Agent(
        name="parent", model=tool_calling_model("delegate", {"question": "q"}), tools=("delegate",)
    )
    result = await runtime.run(parent, "go")
    assert result.output == "ok:echo:q"
    assert depths == [1]
    child_events = [e for e in events.events if e.agent_name == "child"]
    assert child_events
    assert {e.parent_trace_id for e in child_events} == {result.trace_id}

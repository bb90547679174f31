"""LLM-driven spawning (`spawn_agents`) and cascading-spawn control for every nested run."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import (
    Agent,
    AgentGroup,
    AgentRuntime,
    AgentTemplate,
    DepthLimitError,
    Edge,
    EventType,
    RuntimeOptions,
    SpawnCapError,
    SpawnCycleError,
    SpawnResult,
    TaskSpec,
    TokenBudget,
    TrustLevel,
)
from murmur.events import CollectingEventEmitter
from murmur.execution import current_context
from murmur.runs import build_tree, memory_store_factory
from murmur.tools import make_spawn_agents_tool


class Finding(BaseModel):
    topic: str
    answer: str


class Report(BaseModel):
    succeeded: list[str]
    failed: list[str]


def tool_returns(messages: list[ModelMessage]) -> list[Any]:
    """Contents of every tool return seen so far."""
    return [
        p.content
        for m in messages
        for p in getattr(m, "parts", ())
        if getattr(p, "part_kind", "") == "tool-return"
    ]


def prompt_of(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        for part in getattr(message, "parts", ()):
            if getattr(part, "part_kind", "") == "user-prompt":
                return str(part.content)
    return ""


def calls_then_answers(tool: str, args: dict[str, Any], answer: Any = "done") -> FunctionModel:
    """Calls `tool(args)` once, then answers (text, or `answer(returns)` for structured output)."""

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = tool_returns(messages)
        if not returns:
            return ModelResponse(parts=[ToolCallPart(tool, args)])
        if info.output_tools:
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, answer(returns))])
        return ModelResponse(parts=[TextPart(f"{answer}: {returns[0]}")])

    return FunctionModel(call)


def child_model(log: list[dict[str, Any]]) -> FunctionModel:
    """The template's model: records who runs it (and with what config), answers a Finding."""

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        ctx = current_context()
        assert ctx is not None
        topic = prompt_of(messages)
        log.append(
            {
                "agent": ctx.agent.name,
                "trust": ctx.agent.trust_level,
                "tools": ctx.agent.tools,
                "instructions": info.instructions,
                "depth": ctx.depth,
            }
        )
        if topic == "explode":
            raise RuntimeError("child crashed")
        args = {"topic": topic, "answer": f"about {topic}"}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    return FunctionModel(call)


def report(returns: list[Any]) -> dict[str, list[str]]:
    results: list[SpawnResult] = returns[0]
    return {
        "succeeded": [r.name for r in results if r.success],
        "failed": [r.name for r in results if not r.success],
    }


@pytest.fixture
def events() -> CollectingEventEmitter:
    return CollectingEventEmitter()


# -- spawn_agents ---------------------------------------------------------------------


async def test_spawn_agents_runs_children_and_captures_per_child_failures(
    events: CollectingEventEmitter,
) -> None:
    """The orchestrator's LLM spawns three children; one fails; all three come back."""
    runtime = AgentRuntime(event_emitter=events)
    log: list[dict[str, Any]] = []
    swarm = AgentTemplate(
        pre_instruction="You are part of a pipeline.",
        model=child_model(log),
        trust_level=TrustLevel.LOW,
    )
    spawn = make_spawn_agents_tool(
        runtime=runtime, template=swarm, output_type=Finding, max_concurrency=2
    )
    runtime.tools.register("spawn_agents", spawn)
    children = [
        {"name": "nats", "instructions": "Research NATS.", "input": "nats"},
        {"name": "kafka", "instructions": "Research Kafka.", "input": "kafka"},
        {"name": "broken", "instructions": "Crash.", "input": "explode"},
    ]
    orchestrator = Agent(
        name="orchestrator",
        model=calls_then_answers("spawn_agents", {"agents": children}, report),
        output_type=Report,
        tools=("spawn_agents",),
    )
    result = await runtime.run(orchestrator, TaskSpec(input="compare brokers"))
    assert result.is_ok(), result.error
    assert result.output == Report(succeeded=["nats", "kafka"], failed=["broken"])
    assert {entry["agent"] for entry in log} == {"nats", "kafka", "broken"}
    assert all(entry["depth"] == 1 for entry in log)
    spawned = [e for e in events.of_type(EventType.AGENT_SPAWNED) if e.agent_name != "orchestrator"]
    assert {e.parent_trace_id for e in spawned} == {result.trace_id}


async def test_children_take_trust_model_and_tools_from_the_template() -> None:
    """The LLM picks only name / instructions / input: trust, model and tools are the template's."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    log: list[dict[str, Any]] = []
    swarm = AgentTemplate(
        pre_instruction="JSON only.", model=child_model(log), trust_level=TrustLevel.LOW
    )
    spawn = make_spawn_agents_tool(runtime=runtime, template=swarm, output_type=Finding)
    escalation = {
        "name": "sneaky",
        "instructions": "Do it.",
        "input": "x",
        "trust_level": "high",
        "tools": ["shell"],
    }
    refused, ok = await spawn(
        [escalation, {"name": "honest", "instructions": "Do it.", "input": "y"}]
    )
    assert not refused.success
    assert refused.error is not None
    assert "trust_level" in refused.error
    assert ok.success
    assert ok.output == Finding(topic="y", answer="about y")
    assert log == [
        {
            "agent": "honest",
            "trust": TrustLevel.LOW,
            "tools": (),
            "instructions": "JSON only.\n\nDo it.",
            "depth": 0,
        }
    ]


async def test_an_llm_cannot_pass_extra_fields_through_the_tool_schema() -> None:
    """A call with a field beyond name / instructions / input is rejected; no child runs."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    log: list[dict[str, Any]] = []
    swarm = AgentTemplate(model=child_model(log), trust_level=TrustLevel.SANDBOX)
    runtime.tools.register(
        "spawn_agents", make_spawn_agents_tool(runtime=runtime, template=swarm, output_type=Finding)
    )
    feedback: list[str] = []

    async def escalate(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = tool_returns(messages)
        if not returns:
            bad = {"agents": [{"name": "x", "instructions": "i", "input": "", "model": "gpt-5"}]}
            return ModelResponse(parts=[ToolCallPart("spawn_agents", bad)])
        feedback.append(str(returns[0]))
        return ModelResponse(parts=[TextPart("gave up")])

    orchestrator = Agent(
        name="orchestrator", model=FunctionModel(escalate), tools=("spawn_agents",)
    )
    result = await runtime.run(orchestrator, "go")
    assert result.output == "gave up"
    assert "extra_forbidden" in feedback[0]
    assert "model" in feedback[0]
    assert log == []


# -- cascading-spawn control ----------------------------------------------------------


def delegating_runtime(events: CollectingEventEmitter, **options: Any) -> AgentRuntime:
    """A runtime with a `delegate(name)` tool that runs a registered agent as a nested run."""
    runtime = AgentRuntime(RuntimeOptions(**options), event_emitter=events)

    async def delegate(name: str) -> str:
        """Run the agent `name` and say how it went."""
        result = await runtime.run(name, TaskSpec(input=f"work for {name}"))
        return "ok" if result.is_ok() else f"{type(result.error).__name__}"

    runtime.tools.register("delegate", delegate)
    return runtime


def chain_agent(name: str, target: str | None, executed: list[str]) -> Agent[str]:
    """An agent that delegates to `target` (if any) once, then answers with what it got."""

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = tool_returns(messages)
        if not returns:
            executed.append(name)
        if target is not None and not returns:
            return ModelResponse(parts=[ToolCallPart("delegate", {"name": target})])
        return ModelResponse(parts=[TextPart(str(returns[0]) if returns else "leaf done")])

    return Agent(name=name, model=FunctionModel(call), tools=("delegate",))


def register_chain(runtime: AgentRuntime, names: list[str], executed: list[str]) -> None:
    for i, name in enumerate(names):
        target = names[i + 1] if i + 1 < len(names) else None
        runtime.register(chain_agent(name, target, executed))


async def test_a_nested_run_beyond_max_spawn_depth_is_refused(
    events: CollectingEventEmitter,
) -> None:
    """root -> mid -> leaf with max_spawn_depth=1: leaf (depth 2) is refused and never runs."""
    runtime = delegating_runtime(events, max_spawn_depth=1)
    executed: list[str] = []
    register_chain(runtime, ["root", "mid", "leaf"], executed)
    result = await runtime.run("root", "go")
    assert result.output == "ok"  # mid completed; it saw the refusal as its tool result
    assert executed == ["root", "mid"]
    refused = events.of_type(EventType.SPAWN_REFUSED)
    assert [e.agent_name for e in refused] == ["leaf"]
    assert refused[0].payload["reason"] == DepthLimitError.default_code
    assert "DepthLimitError" in str(events.of_type(EventType.TOOL_CALL_COMPLETED)[0].payload)


async def test_a_spawn_that_re_enters_an_ancestor_is_a_cycle_and_never_runs(
    events: CollectingEventEmitter,
) -> None:
    """root -> mid -> root: the second root is refused with SpawnCycleError before executing."""
    runtime = delegating_runtime(events)
    executed: list[str] = []
    runtime.register(chain_agent("root", "mid", executed))
    runtime.register(chain_agent("mid", "root", executed))
    result = await runtime.run("root", "go")
    assert result.is_ok()
    assert executed == ["root", "mid"]
    refused = events.of_type(EventType.SPAWN_REFUSED)
    assert len(refused) == 1
    assert refused[0].payload["reason"] == SpawnCycleError.default_code
    assert "root -> mid -> root" in refused[0].payload["error"]


async def test_spawn_agents_child_named_like_an_ancestor_is_a_captured_cycle() -> None:
    """A child the LLM names after its orchestrator is refused and reported, not run."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    log: list[dict[str, Any]] = []
    swarm = AgentTemplate(model=child_model(log))
    runtime.tools.register(
        "spawn_agents", make_spawn_agents_tool(runtime=runtime, template=swarm, output_type=Finding)
    )
    captured: list[SpawnResult] = []

    def keep(returns: list[Any]) -> dict[str, list[str]]:
        captured.extend(returns[0])
        return report(returns)

    children = [{"name": "orchestrator", "instructions": "Be me.", "input": "x"}]
    orchestrator = Agent(
        name="orchestrator",
        model=calls_then_answers("spawn_agents", {"agents": children}, keep),
        output_type=Report,
        tools=("spawn_agents",),
    )
    result = await runtime.run(orchestrator, "go")
    assert result.output == Report(succeeded=[], failed=["orchestrator"])
    assert captured[0].error_type == "SpawnCycleError"
    assert log == []


async def test_the_spawn_cap_counts_top_level_runs_and_refused_runs_never_execute(
    events: CollectingEventEmitter,
) -> None:
    """max_total_spawns=2 counts every dispatch; a third run, top-level or nested, never runs."""
    runtime = delegating_runtime(events, max_total_spawns=2)
    executed: list[str] = []
    register_chain(runtime, ["root", "mid", "leaf"], executed)
    first = await runtime.run("root", "go")  # root + mid use the cap; leaf is refused
    assert first.output == "ok"
    assert executed == ["root", "mid"]
    again = await runtime.run("leaf", "top-level")
    assert isinstance(again.error, SpawnCapError)
    assert executed == ["root", "mid"]
    assert [e.agent_name for e in events.of_type(EventType.SPAWN_REFUSED)] == ["leaf", "leaf"]


async def test_budgets_propagate_down_the_spawn_tree(events: CollectingEventEmitter) -> None:
    """A task's TokenBudget is charged by the root run and every run it spawns."""
    runtime = delegating_runtime(events)
    executed: list[str] = []
    register_chain(runtime, ["root", "mid", "leaf"], executed)
    budget = TokenBudget(limit=1_000_000, name="tree")
    result = await runtime.run("root", TaskSpec(input="go", token_budget=budget))
    assert result.is_ok()
    completed = events.of_type(EventType.AGENT_COMPLETED)
    assert {e.agent_name for e in completed} == {"root", "mid", "leaf"}
    spent = sum(e.payload["input_tokens"] + e.payload["output_tokens"] for e in completed)
    assert spent > result.metadata.total_tokens
    assert budget.used == spent


async def test_an_exhausted_parent_budget_stops_the_children(
    events: CollectingEventEmitter,
) -> None:
    """Once the inherited budget is spent, a nested run fails its pre-check and does not execute."""
    runtime = delegating_runtime(events)
    executed: list[str] = []
    register_chain(runtime, ["root", "mid"], executed)
    budget = TokenBudget(limit=10)
    budget.used = 10
    result = await runtime.run("root", TaskSpec(input="go", token_budget=budget))
    assert not result.is_ok()
    assert executed == []


async def test_a_three_level_spawn_tree_is_rebuilt_from_events_alone(
    events: CollectingEventEmitter,
) -> None:
    """orchestrator -> spawned children -> leaves: parent_trace_id rebuilds the tree."""
    stores = memory_store_factory()
    runtime = AgentRuntime(event_emitter=events, store=stores)

    async def delegate(name: str) -> str:
        """Run the agent `name`."""
        result = await runtime.run(name, TaskSpec(input="leaf work"))
        return "ok" if result.is_ok() else "failed"

    runtime.tools.register("delegate", delegate)
    runtime.register(chain_agent("leaf", None, []))
    swarm = AgentTemplate(
        model=calls_then_answers(
            "delegate", {"name": "leaf"}, lambda r: {"topic": "t", "answer": r[0]}
        ),
        tools=frozenset({"delegate"}),
    )
    runtime.tools.register(
        "spawn_agents", make_spawn_agents_tool(runtime=runtime, template=swarm, output_type=Finding)
    )
    children = [
        {"name": "child-a", "instructions": "a", "input": "a"},
        {"name": "child-b", "instructions": "b", "input": "b"},
    ]
    orchestrator = Agent(
        name="orchestrator",
        model=calls_then_answers("spawn_agents", {"agents": children}, report),
        output_type=Report,
        tools=("spawn_agents",),
    )
    result = await runtime.run(orchestrator, "go")
    assert result.output == Report(succeeded=["child-a", "child-b"], failed=[])

    shuffled = list(reversed(events.events))
    tree = build_tree(result.trace_id, shuffled)
    assert tree.agent_name == "orchestrator"
    assert tree.status == "completed"
    assert sorted(c.agent_name or "" for c in tree.children) == ["child-a", "child-b"]
    for child in tree.children:
        assert [g.agent_name for g in child.children] == ["leaf"]
        assert child.children[0].status == "completed"
    assert len(list(tree.walk())) == 5
    stored = await stores.events.tree(result.trace_id)
    assert stored.to_dict()["children"]
    assert len(list(stored.walk())) == 5


async def test_group_nodes_inside_a_tool_are_children_of_the_calling_run(
    events: CollectingEventEmitter,
) -> None:
    """A group run from inside a tool nests under the caller: caller -> group -> nodes."""
    runtime = AgentRuntime(event_emitter=events)
    node = Agent(name="node", model="test")
    crew = AgentGroup(name="crew", topology={node: Edge.terminal()})

    async def run_crew() -> str:
        """Run the crew."""
        result = await runtime.run_group(crew, "inner")
        return "ok" if result.is_ok() else "failed"

    runtime.tools.register("run_crew", run_crew)
    caller = Agent(name="caller", model=calls_then_answers("run_crew", {}), tools=("run_crew",))
    result = await runtime.run(caller, "go")
    assert result.is_ok()
    tree = build_tree(result.trace_id, events.events)
    assert [c.agent_name for c in tree.children] == ["crew"]
    assert [g.agent_name for g in tree.children[0].children] == ["node"]
    node_spawned = [e for e in events.of_type(EventType.AGENT_SPAWNED) if e.agent_name == "node"]
    assert node_spawned[0].payload["depth"] == 1

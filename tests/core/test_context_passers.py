"""Context passers: the null -> full -> summary -> selective ladder, by object and by name."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import (
    Agent,
    AgentRuntime,
    AgentTemplate,
    ContextError,
    EventType,
    SpawnResult,
    TaskSpec,
)
from murmur.context import ParentContext, SelectiveContextPasser, SummaryContextPasser
from murmur.events import CollectingEventEmitter
from murmur.plugins import PluginIndex
from murmur.testing.context import ContextPasserContract
from murmur.tools import make_spawn_agents_tool


def parts_of(messages: list[ModelMessage]) -> list[tuple[str, str]]:
    return [
        (p.part_kind, str(getattr(p, "content", getattr(p, "tool_name", ""))))
        for m in messages
        for p in m.parts
    ]


def conversation() -> list[ModelMessage]:
    return [
        ModelRequest(parts=[SystemPromptPart("secret parent prompt"), UserPromptPart("compare")]),
        ModelResponse(parts=[TextPart("thinking aloud"), ToolCallPart("search", {"q": "nats"})]),
        ModelRequest(parts=[ToolReturnPart("search", "huge search result", tool_call_id="c1")]),
        ModelResponse(parts=[TextPart("NATS is a broker")]),
        ModelRequest(parts=[UserPromptPart("and kafka?")]),
    ]


def parent(messages: list[ModelMessage] | None = None) -> ParentContext:
    return ParentContext(
        agent_name="orchestrator",
        trace_id="t" * 32,
        task_id="task",
        messages=tuple(conversation() if messages is None else messages),
    )


def test_every_rung_of_the_ladder_is_a_registered_name() -> None:
    """null, full, summary and selective are entry points a runtime resolves by name."""
    assert {"null", "full", "summary", "selective"} <= set(
        PluginIndex.scan().names("murmur.context_passers")
    )
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    assert isinstance(runtime.context_passer("summary"), SummaryContextPasser)
    assert isinstance(runtime.context_passer("selective"), SelectiveContextPasser)


class TestSummaryPasserContract(ContextPasserContract):
    """SummaryContextPasser passes the context-passer contract suite."""

    @pytest.fixture
    def passer(self) -> SummaryContextPasser:
        summariser = Agent(
            name="summariser",
            model=FunctionModel(lambda m, i: ModelResponse(parts=[TextPart("short")])),
        )
        runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
        return SummaryContextPasser(summariser, runtime=runtime)


class TestSelectivePasserContract(ContextPasserContract):
    """SelectiveContextPasser passes the context-passer contract suite."""

    @pytest.fixture
    def passer(self) -> SelectiveContextPasser:
        return SelectiveContextPasser()


# -- selective ------------------------------------------------------------------------


async def test_selective_by_default_keeps_questions_and_answers_not_tool_traffic() -> None:
    """The default selection drops system prompts, tool calls and tool results."""
    kept = await SelectiveContextPasser().prepare(parent(), TaskSpec(input="x"))
    assert parts_of(kept) == [
        ("user-prompt", "compare"),
        ("text", "thinking aloud"),
        ("text", "NATS is a broker"),
        ("user-prompt", "and kafka?"),
    ]


async def test_selective_last_keeps_only_the_most_recent_messages() -> None:
    """`last=2` keeps the two most recent kept messages."""
    kept = await SelectiveContextPasser(last=2).prepare(parent(), TaskSpec(input="x"))
    assert parts_of(kept) == [("text", "NATS is a broker"), ("user-prompt", "and kafka?")]


async def test_a_selector_chooses_the_messages() -> None:
    """A custom (async) selector sees the parent's messages and the child's task."""
    seen: list[Any] = []

    async def only_first(messages: list[Any], task: TaskSpec) -> list[Any]:
        seen.append(task.input)
        return messages[:1]

    kept = await SelectiveContextPasser(only_first).prepare(parent(), TaskSpec(input="child"))
    assert seen == ["child"]
    assert parts_of(kept) == [("system-prompt", "secret parent prompt"), ("user-prompt", "compare")]


async def test_a_failing_selector_is_a_context_error() -> None:
    """A selector that raises, or returns something that is not messages, is a ContextError."""

    def broken(messages: list[Any], task: TaskSpec) -> list[Any]:
        raise KeyError("field")

    with pytest.raises(ContextError, match="selector 'broken' raised"):
        await SelectiveContextPasser(broken).prepare(parent(), TaskSpec())
    with pytest.raises(ContextError, match="PydanticAI messages"):
        await SelectiveContextPasser(lambda m, t: ["text"]).prepare(parent(), TaskSpec())


async def test_passers_give_a_top_level_run_no_context() -> None:
    """With no parent run there is nothing to pass."""
    assert await SelectiveContextPasser().prepare(None, TaskSpec()) == []
    assert await SummaryContextPasser().prepare(None, TaskSpec()) == []


# -- summary and selective through the pipeline ---------------------------------------


def mid_turn() -> list[ModelMessage]:
    """A parent that is executing a tool call right now (its last response calls a tool)."""
    return [
        ModelRequest(parts=[UserPromptPart("compare NATS and Kafka")]),
        ModelResponse(parts=[TextPart("let me delegate"), ToolCallPart("spawn_agents", {"a": 1})]),
    ]


def recording_child(name: str, log: list[list[tuple[str, str]]], passer: Any) -> Agent[str]:
    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        log.append(parts_of(messages))
        return ModelResponse(parts=[TextPart("child done")])

    return Agent(name=name, model=FunctionModel(call), context_passer=passer)


async def run_child(runtime: AgentRuntime, agent: Agent[Any], parent_ctx: ParentContext) -> Any:
    """Run `agent` through the pipeline as a child of `parent_ctx`."""
    await runtime.start()
    ctx = runtime.context_for(agent, TaskSpec(input="child task"))
    ctx.parent = parent_ctx
    ctx.parent_trace_id = parent_ctx.trace_id
    ctx.depth = 1
    ctx.ancestors = (parent_ctx.agent_name,)
    return await runtime.execute_context(ctx)


def summariser_agent(transcripts: list[str], fail: bool = False) -> Agent[str]:
    def summarise(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if fail:
            raise RuntimeError("summariser provider down")
        prompt = [p for m in messages for p in m.parts if p.part_kind == "user-prompt"]
        transcripts.append(str(prompt[-1].content))
        return ModelResponse(parts=[TextPart(f"SUMMARY #{len(transcripts)}")])

    return Agent(name="summariser", model=FunctionModel(summarise))


async def test_summary_is_written_once_per_parent_run_and_shared_by_its_children() -> None:
    """Concurrent children of one parent run share one summary; a new parent gets a new one."""
    events = CollectingEventEmitter()
    runtime = AgentRuntime(event_emitter=events)
    transcripts: list[str] = []
    passer = SummaryContextPasser(summariser_agent(transcripts))
    log: list[list[tuple[str, str]]] = []
    children = [recording_child(f"child-{i}", log, passer) for i in range(3)]
    first = parent(mid_turn())
    results = await asyncio.gather(*(run_child(runtime, c, first) for c in children))
    assert all(r.is_ok() for r in results)
    assert len(transcripts) == 1
    assert "user: compare NATS and Kafka" in transcripts[0]
    assert "assistant called spawn_agents(" in transcripts[0]
    for parts in log:
        assert "'orchestrator' (a summary):\nSUMMARY #1" in parts[0][1]
        assert all("compare NATS and Kafka" not in text for _, text in parts)
    summariser_runs = [
        e for e in events.of_type(EventType.AGENT_SPAWNED) if e.agent_name == "summariser"
    ]
    assert [e.parent_trace_id for e in summariser_runs] == [first.trace_id]
    assert [e.payload["depth"] for e in summariser_runs] == [1]  # the child's level

    second = ParentContext("orchestrator", "u" * 32, "task-2", tuple(mid_turn()))
    await run_child(runtime, children[0], second)
    assert len(transcripts) == 2
    assert "SUMMARY #2" in log[-1][0][1]


async def test_summary_by_name_uses_the_childs_own_model_by_default() -> None:
    """`context_passer="summary"` needs no configuration: the child's model writes the summary."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    log: list[list[tuple[str, str]]] = []
    child = recording_child("child", log, "summary")
    result = await run_child(runtime, child, parent(mid_turn()))
    assert result.is_ok()
    summary_prompt, child_view = log
    assert "compare NATS and Kafka" in summary_prompt[-1][1]
    assert "(a summary):\nchild done" in child_view[0][1]


async def test_a_failing_summariser_is_a_context_error_and_the_child_never_runs() -> None:
    """When the summary cannot be written the child fails with ContextError before executing."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    log: list[list[tuple[str, str]]] = []
    passer = SummaryContextPasser(summariser_agent([], fail=True))
    result = await run_child(runtime, recording_child("child", log, passer), parent(mid_turn()))
    assert isinstance(result.error, ContextError)
    assert "summariser provider down" in result.error.message
    assert log == []


async def test_selective_by_name_gives_a_runnable_history_without_tool_traffic() -> None:
    """`context_passer="selective"` on a mid-turn parent: the question, not the tool call."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    log: list[list[tuple[str, str]]] = []
    result = await run_child(
        runtime, recording_child("child", log, "selective"), parent(mid_turn())
    )
    assert result.is_ok(), result.error
    kinds = [kind for kind, _ in log[0]]
    assert "tool-call" not in kinds
    assert ("user-prompt", "compare NATS and Kafka") in log[0]
    assert ("text", "let me delegate") in log[0]


async def test_full_passes_a_mid_turn_parent_conversation_the_child_can_run_with() -> None:
    """`context_passer="full"`: the parent's pending tool call is closed out so the child runs."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    log: list[list[tuple[str, str]]] = []
    result = await run_child(runtime, recording_child("child", log, "full"), parent(mid_turn()))
    assert result.is_ok(), result.error
    assert ("user-prompt", "compare NATS and Kafka") in log[0]
    assert ("tool-call", "spawn_agents") in log[0]


# -- end to end through spawn_agents --------------------------------------------------


def spawning_runtime(child_passer: Any, child_log: list[list[tuple[str, str]]]) -> AgentRuntime:
    """A runtime whose orchestrator spawns three children using `child_passer`."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())

    async def child(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        child_log.append(parts_of(messages))
        return ModelResponse(parts=[TextPart("child done")])

    swarm = AgentTemplate(model=FunctionModel(child), context_passer=child_passer)
    runtime.tools.register("spawn_agents", make_spawn_agents_tool(runtime=runtime, template=swarm))
    return runtime


def orchestrator(results: list[SpawnResult]) -> Agent[str]:
    children = {
        "agents": [{"name": f"child-{i}", "instructions": "help", "input": "go"} for i in range(3)]
    }

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns: list[Any] = [
            p.content for m in messages for p in m.parts if p.part_kind == "tool-return"
        ]
        if not returns:
            return ModelResponse(
                parts=[TextPart("let me delegate"), ToolCallPart("spawn_agents", children)]
            )
        results.extend(returns[0])
        return ModelResponse(parts=[TextPart("all done")])

    return Agent(name="orchestrator", model=FunctionModel(call), tools=("spawn_agents",))


async def test_spawned_children_share_one_summary_of_the_orchestrator() -> None:
    """Three spawn_agents children of one orchestrator share one summariser run."""
    transcripts: list[str] = []
    child_log: list[list[tuple[str, str]]] = []
    runtime = spawning_runtime(SummaryContextPasser(summariser_agent(transcripts)), child_log)
    results: list[SpawnResult] = []
    outcome = await runtime.run(orchestrator(results), "compare NATS and Kafka")
    assert outcome.output == "all done"
    assert [r.success for r in results] == [True, True, True]
    assert len(transcripts) == 1
    assert "user: compare NATS and Kafka" in transcripts[0]
    assert all("SUMMARY #1" in parts[0][1] for parts in child_log)


async def test_spawned_children_with_selective_see_the_question_not_the_tool_call() -> None:
    """spawn_agents children using "selective" see the orchestrator's question only."""
    child_log: list[list[tuple[str, str]]] = []
    runtime = spawning_runtime("selective", child_log)
    results: list[SpawnResult] = []
    await runtime.run(orchestrator(results), "compare NATS and Kafka")
    assert len(child_log) == 3
    for parts in child_log:
        assert ("user-prompt", "compare NATS and Kafka") in parts
        assert "tool-call" not in [kind for kind, _ in parts]

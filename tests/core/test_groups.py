"""Agent groups: construction, validation, data flow, fan-out / fan-in, events, resume."""

from __future__ import annotations

import asyncio
import json
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, RootModel
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import (
    Agent,
    AgentGroup,
    AgentRuntime,
    AllAgentsFailedError,
    BudgetExceededError,
    Edge,
    EventType,
    FanOut,
    GroupResult,
    RuntimeOptions,
    SpawnCapError,
    SpawnError,
    TaskSpec,
    TokenBudget,
    TopologyError,
)
from murmur.events import CollectingEventEmitter
from murmur.groups import MemoryCheckpoint, NodeStatus
from murmur.runs import build_tree


class Finding(BaseModel):
    question: str
    answer: str


class Review(BaseModel):
    answer: str
    approved: bool


class Summary(BaseModel):
    text: str


class Plan(BaseModel):
    title: str
    questions: FanOut[list[str]]


class Answer(BaseModel):
    question: str
    answer: str


class Answers(RootModel[list[Answer]]):
    pass


def prompt_of(messages: list[ModelMessage]) -> str:
    """The text of the last user prompt."""
    for message in reversed(messages):
        for part in getattr(message, "parts", ()):
            if getattr(part, "part_kind", "") == "user-prompt":
                return str(part.content)
    return ""


def model(fn: Callable[[str], Any]) -> FunctionModel:
    """A FunctionModel answering `fn(prompt)`: a dict for structured output, else text."""

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        out = fn(prompt_of(messages))
        if info.output_tools:
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, out)])
        return ModelResponse(parts=[TextPart(str(out))])

    return FunctionModel(call)


def failing(message: str = "boom") -> FunctionModel:
    """A model whose every call raises."""

    def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError(message)

    return FunctionModel(call)


def finding_agent() -> Agent[Finding]:
    return Agent(
        name="researcher",
        model=model(lambda p: {"question": p, "answer": f"answer to {p}"}),
        output_type=Finding,
    )


def review_agent(approved: bool = True, name: str = "reviewer") -> Agent[Review]:
    return Agent(
        name=name,
        model=model(lambda p: {"answer": json.loads(p)["answer"], "approved": approved}),
        output_type=Review,
        input_type=Finding,
    )


def summary_agent(name: str = "summariser") -> Agent[Summary]:
    return Agent(name=name, model=model(lambda p: {"text": f"summary of {p}"}), output_type=Summary)


@pytest.fixture
def events() -> CollectingEventEmitter:
    return CollectingEventEmitter()


@pytest.fixture
def runtime(events: CollectingEventEmitter) -> AgentRuntime:
    return AgentRuntime(event_emitter=events)


# -- construction ---------------------------------------------------------------------


def test_topology_form_and_readme_form_build_the_same_group() -> None:
    """The topology form and the README (agents + edges) form describe one group."""
    researcher, reviewer, summariser = finding_agent(), review_agent(), summary_agent()
    topo = AgentGroup(
        name="crew",
        topology={
            researcher: Edge(to=(reviewer,)),
            reviewer: Edge(to=(summariser,)),
            summariser: Edge.terminal(),
        },
    )
    readme = AgentGroup(
        name="crew",
        agents={"researcher": researcher, "reviewer": reviewer, "summariser": summariser},
        edges=[Edge("researcher", "reviewer"), Edge("reviewer", "summariser")],
    )
    assert topo == readme
    assert topo.order == ("researcher", "reviewer", "summariser")
    assert topo.roots == ("researcher",)
    assert topo.terminals == ("summariser",)


def test_a_cycle_is_a_topology_error_naming_the_agents() -> None:
    """A cycle is refused at construction, and the message shows the loop."""
    a, b = summary_agent("a"), summary_agent("b")
    with pytest.raises(TopologyError, match="cycle: a -> b -> a"):
        AgentGroup(name="loop", agents=[a, b], edges=[Edge("a", "b"), Edge("b", "a")])


def test_a_dangling_reference_is_a_topology_error() -> None:
    """An edge naming an agent the group does not contain is refused, naming it."""
    with pytest.raises(TopologyError, match=r"'ghost'.*not an agent of the group"):
        AgentGroup(
            name="crew", agents={"researcher": finding_agent()}, edges=[Edge("researcher", "ghost")]
        )


def test_incompatible_types_across_an_edge_are_a_topology_error() -> None:
    """An upstream output that cannot become the downstream input_type is refused."""
    summariser = summary_agent()
    with pytest.raises(TopologyError, match=r"'summariser' -> 'reviewer'.*requires \['answer'"):
        AgentGroup(name="bad", topology={summariser: Edge(to=(review_agent(),))})


def test_a_mapper_makes_an_incompatible_edge_acceptable() -> None:
    """With an edge mapper the types are the mapper's business, so the group builds."""
    summariser = summary_agent()
    group = AgentGroup(
        name="ok",
        topology={
            summariser: Edge(
                to=(review_agent(),),
                mapper=lambda s: TaskSpec(input=Finding(question="q", answer=s.text)),
            )
        },
    )
    assert group.terminals == ("reviewer",)


def test_fan_in_needs_a_list_input_type() -> None:
    """After a fan-out, the downstream input is a list: a non-list input_type is refused."""
    planner = Agent(name="planner", model="test", output_type=Plan)
    worker = Agent(name="worker", model="test", output_type=Answer)
    wrong = Agent(name="collector", model="test", output_type=Summary, input_type=Answer)
    with pytest.raises(TopologyError, match="RootModel"):
        AgentGroup(name="g", topology={planner: Edge(to=(worker,)), worker: Edge(to=(wrong,))})
    right = wrong.model_copy(update={"input_type": Answers})
    AgentGroup(name="g", topology={planner: Edge(to=(worker,)), worker: Edge(to=(right,))})


# -- running --------------------------------------------------------------------------


async def test_a_linear_group_passes_typed_outputs_down_the_chain(
    runtime: AgentRuntime, events: CollectingEventEmitter
) -> None:
    """Each node's typed output is the next node's input; the terminal output is typed."""
    researcher, reviewer, summariser = finding_agent(), review_agent(), summary_agent()
    crew = AgentGroup(
        name="crew",
        topology={
            researcher: Edge(to=(reviewer,)),
            reviewer: Edge(to=(summariser,)),
            summariser: Edge.terminal(),
        },
    )
    result = await runtime.run_group(crew, TaskSpec(input="What is NATS?"))
    assert isinstance(result, GroupResult)
    assert result.is_ok()
    assert result.output_of(researcher) == Finding(
        question="What is NATS?", answer="answer to What is NATS?"
    )
    assert result.output_of(reviewer).approved is True
    summary = result.output
    assert isinstance(summary, Summary)
    assert summary.text.startswith("summary of ")
    types = events.types()
    assert types[0] is EventType.GROUP_STARTED
    assert types[-1] is EventType.GROUP_COMPLETED


async def test_node_runs_are_children_of_the_group_run(
    runtime: AgentRuntime, events: CollectingEventEmitter
) -> None:
    """The group has its own trace id and every node run hangs under it in the run tree."""
    researcher, reviewer = finding_agent(), review_agent()
    crew = AgentGroup(name="crew", topology={researcher: Edge(to=(reviewer,))})
    task = TaskSpec(input="q")
    result = await runtime.run_group(crew, task)
    assert result.trace_id == task.trace_id
    tree = build_tree(task.trace_id, events.events)
    assert tree.agent_name == "crew"
    assert tree.status == "completed"
    assert sorted(c.agent_name or "" for c in tree.children) == ["researcher", "reviewer"]
    assert result.nodes["reviewer"].result.metadata.parent_trace_id == task.trace_id


async def test_a_failing_middle_node_fails_the_group_and_skips_downstream(
    runtime: AgentRuntime, events: CollectingEventEmitter
) -> None:
    """When the middle node fails, downstream is skipped and GROUP_FAILED reports it."""
    researcher = finding_agent()
    reviewer = review_agent().model_copy(update={"model": failing("provider down")})
    summariser = summary_agent()
    crew = AgentGroup(
        name="crew",
        topology={researcher: Edge(to=(reviewer,)), reviewer: Edge(to=(summariser,))},
    )
    result = await runtime.run_group(crew, TaskSpec(input="q"))
    assert not result.is_ok()
    assert result.failed_nodes == ["reviewer"]
    assert isinstance(result.error, SpawnError)
    assert "provider down" in result.error.message
    assert result.nodes["researcher"].status is NodeStatus.COMPLETED
    assert result.nodes["summariser"].status is NodeStatus.SKIPPED
    assert result.nodes["summariser"].results == []
    with pytest.raises(SpawnError):
        _ = result.output
    failed = events.of_type(EventType.GROUP_FAILED)
    assert len(failed) == 1
    assert failed[0].payload["failed_nodes"] == ["reviewer"]
    assert not events.of_type(EventType.GROUP_COMPLETED)


async def test_edge_mapper_and_condition_shape_the_flow(runtime: AgentRuntime) -> None:
    """A mapper builds the downstream task; a false condition skips the downstream node."""
    seen: list[Any] = []
    researcher = finding_agent()
    approve = review_agent(name="approve")
    escalate = summary_agent("escalate")

    def to_finding(f: Finding) -> TaskSpec:
        seen.append(f)
        return TaskSpec(input=Finding(question=f.question, answer=f.answer.upper()))

    crew = AgentGroup(
        name="router",
        topology={
            researcher: [
                Edge(to=(approve,), mapper=to_finding, condition=lambda f: "NATS" in f.question),
                Edge(to=(escalate,), condition=lambda f: "NATS" not in f.question),
            ]
        },
    )
    result = await runtime.run_group(crew, TaskSpec(input="NATS?"))
    assert result.is_ok()
    assert result.output_of(approve).answer == "ANSWER TO NATS?"
    assert seen == [result.output_of(researcher)]
    assert result.nodes["escalate"].status is NodeStatus.SKIPPED
    assert set(result.outputs) == {"approve"}


async def test_a_mapper_that_raises_fails_the_downstream_node(runtime: AgentRuntime) -> None:
    """An exception in an edge mapper is a typed node failure, not a crash."""

    def broken(_: Any) -> TaskSpec:
        raise ValueError("bad mapping")

    crew = AgentGroup(
        name="g", topology={finding_agent(): Edge(to=(summary_agent(),), mapper=broken)}
    )
    result = await runtime.run_group(crew, "q")
    assert result.failed_nodes == ["summariser"]
    assert result.error is not None
    assert result.error.code == "mapper_failed"


async def test_fan_out_of_100_items_never_exceeds_max_concurrency(runtime: AgentRuntime) -> None:
    """A FanOut field of 100 items runs 100 downstream runs, at most 5 at once, in order."""
    in_flight = peak = 0

    async def work(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.002)
        in_flight -= 1
        question = prompt_of(messages)
        args = {"question": question, "answer": question.upper()}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    planner = Agent(
        name="planner",
        model=model(lambda p: {"title": p, "questions": [f"q{i}" for i in range(100)]}),
        output_type=Plan,
    )
    worker = Agent(name="worker", model=FunctionModel(work), output_type=Answer)
    received: list[str] = []

    def collect(prompt: str) -> dict[str, str]:
        received.append(prompt)
        return {"text": "done"}

    collector = Agent(
        name="collector", model=model(collect), output_type=Summary, input_type=Answers
    )
    crew = AgentGroup(
        name="fan",
        topology={
            planner: Edge(to=(worker,), max_concurrency=5),
            worker: Edge(to=(collector,)),
        },
    )
    result = await runtime.run_group(crew, TaskSpec(input="plan"))
    assert result.is_ok()
    node = result.nodes["worker"]
    assert node.fanned_out
    assert len(node.results) == 100
    assert peak == 5
    assert [a.question for a in result.outputs_of(worker)] == [f"q{i}" for i in range(100)]
    fan_in = json.loads(received[0])
    assert [item["question"] for item in fan_in] == [f"q{i}" for i in range(100)]
    assert result.output == Summary(text="done")


async def test_a_fan_out_tier_where_every_run_fails_is_all_agents_failed(
    runtime: AgentRuntime,
) -> None:
    """When every fan-out run fails: AllAgentsFailedError, and the downstream mapper never runs."""
    mapper_calls: list[Any] = []
    planner = Agent(
        name="planner",
        model=model(lambda p: {"title": p, "questions": ["a", "b", "c"]}),
        output_type=Plan,
    )
    worker = Agent(name="worker", model=failing(), output_type=Answer)
    collector = summary_agent("collector")

    def aggregate(answers: list[Answer]) -> TaskSpec:
        mapper_calls.append(answers)
        return TaskSpec(input="x")

    crew = AgentGroup(
        name="fan",
        topology={planner: Edge(to=(worker,)), worker: Edge(to=(collector,), mapper=aggregate)},
    )
    result = await runtime.run_group(crew, TaskSpec(input="plan"))
    assert isinstance(result.error, AllAgentsFailedError)
    assert len(result.error.details["errors"]) == 3
    assert mapper_calls == []
    assert result.nodes["collector"].status is NodeStatus.SKIPPED
    with pytest.raises(AllAgentsFailedError):
        _ = result.output


async def test_a_partially_failed_fan_out_passes_on_the_successes(runtime: AgentRuntime) -> None:
    """Some fan-out runs failing does not fail the group: downstream gets the successes."""

    def work(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        question = prompt_of(messages)
        if question == "bad":
            raise RuntimeError("nope")
        args = {"question": question, "answer": "ok"}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    planner = Agent(
        name="planner",
        model=model(lambda p: {"title": p, "questions": ["x", "bad", "y"]}),
        output_type=Plan,
    )
    worker = Agent(name="worker", model=FunctionModel(work), output_type=Answer)
    counted: list[int] = []
    collector = Agent(name="collector", model="test", output_type=Summary)
    crew = AgentGroup(
        name="fan",
        topology={
            planner: Edge(to=(worker,)),
            worker: Edge(to=(collector,), mapper=lambda answers: counted.append(len(answers))),
        },
    )
    result = await runtime.run_group(crew, "plan")
    assert result.is_ok()
    assert len(result.nodes["worker"].failures) == 1
    assert counted == [2]


async def test_independent_branches_run_concurrently(runtime: AgentRuntime) -> None:
    """Two branches with no edge between them are in flight at the same time."""
    both_started = asyncio.Event()
    started: list[str] = []

    def branch(name: str) -> Agent[Summary]:
        async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            started.append(name)
            if len(started) == 2:
                both_started.set()
            await asyncio.wait_for(both_started.wait(), timeout=5)
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {"text": name})])

        return Agent(name=name, model=FunctionModel(call), output_type=Summary)

    left, right = branch("left"), branch("right")
    join = Agent(name="join", model=model(lambda p: {"text": p}), output_type=Summary)
    crew = AgentGroup(name="diamond", topology={left: Edge(to=(join,)), right: Edge(to=(join,))})
    result = await runtime.run_group(crew, "go")
    assert result.is_ok(), result.error
    assert sorted(started) == ["left", "right"]
    assert json.loads(result.output.text) == {
        "left": {"text": "left"},
        "right": {"text": "right"},
    }


async def test_group_runs_share_the_task_budget() -> None:
    """A TaskSpec budget covers every node: once spent, later nodes fail with the budget error."""
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter())
    budget = TokenBudget(limit=1)
    crew = AgentGroup(name="crew", topology={finding_agent(): Edge(to=(review_agent(),))})
    result = await runtime.run_group(crew, TaskSpec(input="q", token_budget=budget))
    assert budget.used > 0
    assert isinstance(result.error, BudgetExceededError)


async def test_node_runs_count_against_the_runtime_spawn_cap() -> None:
    """Group nodes go through the same pipeline, so max_total_spawns applies to them."""
    runtime = AgentRuntime(
        RuntimeOptions(max_total_spawns=1), event_emitter=CollectingEventEmitter()
    )
    crew = AgentGroup(name="crew", topology={finding_agent(): Edge(to=(review_agent(),))})
    result = await runtime.run_group(crew, "q")
    assert result.failed_nodes == ["reviewer"]
    assert isinstance(result.error, SpawnCapError)


async def test_a_checkpoint_lets_a_rerun_skip_finished_nodes(runtime: AgentRuntime) -> None:
    """Completed nodes are recorded; rerunning the same group run reuses them."""
    calls: list[str] = []

    def research(prompt: str) -> dict[str, str]:
        calls.append(prompt)
        return {"question": prompt, "answer": "a"}

    researcher = Agent(name="researcher", model=model(research), output_type=Finding)
    reviewer = review_agent().model_copy(update={"model": failing()})
    crew = AgentGroup(name="crew", topology={researcher: Edge(to=(reviewer,))})
    checkpoint = MemoryCheckpoint()
    task = TaskSpec(input="q")
    first = await runtime.run_group(crew, task, checkpoint=checkpoint)
    assert first.failed_nodes == ["reviewer"]
    fixed = AgentGroup(name="crew", topology={researcher: Edge(to=(review_agent(),))})
    second = await runtime.run_group(fixed, task, checkpoint=checkpoint)
    assert second.is_ok()
    assert calls == ["q"]
    assert second.nodes["researcher"].restored
    assert second.output_of(researcher).question == "q"


async def test_a_group_timeout_is_a_typed_failure(runtime: AgentRuntime) -> None:
    """run_group(timeout_seconds=...) bounds the whole group and reports BudgetExceededError."""

    async def slow(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(5)
        raise AssertionError("unreachable")

    crew = AgentGroup(
        name="slow", agents=[Agent(name="slow", model=FunctionModel(slow), output_type=Summary)]
    )
    result = await runtime.run_group(crew, "q", timeout_seconds=0.05)
    assert isinstance(result.error, BudgetExceededError)
    assert result.error.code == "timeout"
    assert result.nodes["slow"].status is NodeStatus.SKIPPED


async def test_a_store_checkpoint_restores_typed_outputs_from_the_run_store() -> None:
    """StoreCheckpoint keeps node outputs as JSON in the run store and re-types them on resume."""
    from murmur.groups import StoreCheckpoint
    from murmur.runs import memory_store_factory

    stores = memory_store_factory()
    runtime = AgentRuntime(event_emitter=CollectingEventEmitter(), store=stores)
    calls: list[str] = []

    def research(prompt: str) -> dict[str, str]:
        calls.append(prompt)
        return {"question": prompt, "answer": "a"}

    researcher = Agent(name="researcher", model=model(research), output_type=Finding)
    broken = AgentGroup(
        name="crew",
        topology={researcher: Edge(to=(review_agent().model_copy(update={"model": failing()}),))},
    )
    fixed = AgentGroup(name="crew", topology={researcher: Edge(to=(review_agent(),))})
    task = TaskSpec(input="q")
    first = await runtime.run_group(broken, task, checkpoint=StoreCheckpoint(stores.runs, broken))
    assert first.failed_nodes == ["reviewer"]
    saved = await stores.runs.checkpoints(task.trace_id)
    assert saved["node:researcher"]["outputs"] == [{"question": "q", "answer": "a"}]
    second = await runtime.run_group(fixed, task, checkpoint=StoreCheckpoint(stores.runs, fixed))
    assert second.is_ok()
    assert calls == ["q"]
    assert second.output_of(researcher) == Finding(question="q", answer="a")
    record = await stores.runs.get(task.trace_id)
    assert record is not None
    assert record.kind == "group"
    assert record.status == "completed"


DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("page", ["groups.md", "spawning.md", "context-passers.md", "yaml.md"])
def test_the_docs_example_runs(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first Python example of each coordination docs page runs as a script, offline."""
    text = (DOCS / page).read_text()
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(example)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip()

"""Durable group runs and gather batches, in one process with the in-memory store.

The kill-and-resume tests across processes (SQLite, SIGKILL) are in tests/e2e/test_durable.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentGroup, AgentRuntime, Edge, FanOut, TaskSpec
from murmur.core.errors import RegistryError, SpawnError
from murmur.events import NullEventEmitter
from murmur.groups import GroupResult, MemoryCheckpoint
from murmur.runs import RunStore
from murmur.types import AgentResult, new_id

from ._models import last_prompt


class Answer(BaseModel):
    question: str
    answer: str


class Plan(BaseModel):
    questions: FanOut[list[str]]


class Calls:
    """Counts model calls per agent and prompt; `fail` makes chosen prompts fail once."""

    def __init__(self) -> None:
        self.count: Counter[tuple[str, str]] = Counter()
        self.fail: set[tuple[str, str]] = set()
        self.hang: set[tuple[str, str]] = set()

    def per_agent(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (agent, _), n in self.count.items():
            out[agent] += n
        return out

    def model(self, agent: str, structured: bool = False) -> FunctionModel:
        async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            prompt = last_prompt(messages)
            self.count[(agent, prompt)] += 1
            if (agent, prompt) in self.hang:
                self.hang.discard((agent, prompt))
                await asyncio.Event().wait()  # until the run is cancelled ("the process dies")
            if (agent, prompt) in self.fail:
                self.fail.discard((agent, prompt))
                raise RuntimeError(f"{agent} crashed on {prompt}")
            if structured and info.output_tools:
                data = {"question": prompt, "answer": f"{agent}:{prompt}"}
                return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, data)])
            return ModelResponse(parts=[TextPart(f"{agent}({prompt[:40]})")])

        return FunctionModel(respond)


@pytest.fixture
async def durable() -> AsyncIterator[AgentRuntime]:
    """A runtime with the in-memory store (durable runs within this process)."""
    rt = AgentRuntime(store="memory://", event_emitter=NullEventEmitter())
    yield rt
    await rt.aclose()


def runs(runtime: AgentRuntime) -> RunStore:
    assert runtime.stores is not None
    return runtime.stores.runs


def pipeline(calls: Calls) -> AgentGroup:
    a, b, c = (Agent(name=n, model=calls.model(n)) for n in ("a", "b", "c"))
    return AgentGroup(
        name="pipeline", topology={a: Edge(to=(b,)), b: Edge(to=(c,)), c: Edge.terminal()}
    )


async def test_a_group_resumes_after_a_failed_node_without_rerunning_finished_nodes(
    durable: AgentRuntime,
) -> None:
    """With a store set, resume(run_id) restores finished nodes and runs only the rest."""
    calls = Calls()
    crew = durable.register_group(pipeline(calls))
    calls.fail.add(("b", "a(go)"))
    task = TaskSpec(input="go")
    first = await durable.run_group(crew, task)
    assert first.failed_nodes == ["b"]
    resumed = await durable.resume(task.trace_id)
    assert isinstance(resumed, GroupResult)
    assert resumed.is_ok()
    assert resumed.nodes["a"].restored
    assert resumed.output == "c(b(a(go)))"
    assert calls.per_agent() == Counter({"a": 1, "b": 2, "c": 1})


async def test_resuming_a_finished_group_calls_no_model(durable: AgentRuntime) -> None:
    """A completed group run resumes entirely from checkpoints: same output, no model calls."""
    calls = Calls()
    crew = durable.register_group(pipeline(calls))
    task = TaskSpec(input="go", metadata={"user": "u1"})
    first = await durable.run_group(crew, task)
    again = await durable.resume(task.trace_id)
    assert isinstance(again, GroupResult)
    assert (again.output, again.trace_id) == (first.output, task.trace_id)
    assert all(node.restored for node in again.nodes.values())
    assert calls.per_agent() == Counter({"a": 1, "b": 1, "c": 1})


async def test_a_group_that_is_not_registered_is_rebuilt_from_its_recorded_spec(
    durable: AgentRuntime,
) -> None:
    """resume() rebuilds an unregistered group from the recorded spec and registered agents."""
    calls = Calls()
    crew = pipeline(calls)
    calls.fail.add(("c", "b(a(go))"))
    task = TaskSpec(input="go")
    await durable.run_group(crew, task)
    for agent in crew.agents.values():
        durable.register(agent)
    resumed = await durable.resume(task.trace_id)
    assert isinstance(resumed, GroupResult)
    assert resumed.output == "c(b(a(go)))"
    assert calls.per_agent() == Counter({"a": 1, "b": 1, "c": 2})


async def test_resuming_a_group_needs_the_group_or_its_agents(durable: AgentRuntime) -> None:
    """A group neither registered nor rebuildable gives a RegistryError saying what to register."""
    calls = Calls()
    task = TaskSpec(input="go")
    await durable.run_group(pipeline(calls), task)
    with pytest.raises(RegistryError, match="register_group") as info:
        await durable.resume(task.trace_id)
    assert info.value.code == "group_not_found"


async def test_a_half_finished_fan_out_node_keeps_its_finished_items(
    durable: AgentRuntime,
) -> None:
    """Items of a fan-out node that finished before the crash are restored on resume."""
    calls = Calls()

    def plan(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.count[("planner", "")] += 1
        data = {"questions": [f"q{i}" for i in range(6)]}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, data)])

    planner = Agent(name="planner", model=FunctionModel(plan), output_type=Plan)
    worker = Agent(name="worker", model=calls.model("worker", structured=True), output_type=Answer)
    crew = durable.register_group(
        AgentGroup(name="fan", topology={planner: Edge(to=(worker,)), worker: Edge.terminal()})
    )
    calls.hang.update({("worker", "q2"), ("worker", "q4")})
    task = TaskSpec(input="plan")
    first = asyncio.create_task(durable.run_group(crew, task))
    store = runs(durable)
    batch = f"{task.trace_id}:worker"
    for _ in range(2000):  # until the four other items are checkpointed
        if len([k for k in await store.checkpoints(batch) if k.startswith("task:")]) == 4:
            break
        await asyncio.sleep(0.01)
    first.cancel()  # the orchestrating process "dies" with q2 and q4 in flight
    with pytest.raises(asyncio.CancelledError):
        await first
    resumed = await durable.resume(task.trace_id)
    assert isinstance(resumed, GroupResult)
    assert [a.question for a in resumed.output] == [f"q{i}" for i in range(6)]
    assert all(isinstance(a, Answer) for a in resumed.output)
    assert calls.count[("planner", "")] == 1
    assert {q: calls.count[("worker", q)] for q in ("q0", "q2", "q4")} == {
        "q0": 1,
        "q2": 2,
        "q4": 2,
    }


async def test_an_explicit_checkpoint_still_wins(durable: AgentRuntime) -> None:
    """run_group(checkpoint=...) uses the caller's checkpoint; such a run is not resumable."""
    calls = Calls()
    crew = durable.register_group(pipeline(calls))
    task = TaskSpec(input="go")
    checkpoint = MemoryCheckpoint()
    await durable.run_group(crew, task, checkpoint=checkpoint)
    assert set(await checkpoint.load(task.trace_id)) == {"a", "b", "c"}
    with pytest.raises(RegistryError) as info:
        await durable.resume(task.trace_id)
    assert info.value.code == "not_resumable"


async def test_a_gather_batch_resumes_only_its_unfinished_tasks(durable: AgentRuntime) -> None:
    """gather(run_id=...) checkpoints each success; resume re-runs failures, keeps order."""
    calls = Calls()
    agent = durable.register(
        Agent(name="w", model=calls.model("w", structured=True), output_type=Answer)
    )
    calls.fail.update({("w", "q3"), ("w", "q7")})
    run_id = new_id()
    first = await durable.gather(agent, [f"q{i}" for i in range(10)], run_id=run_id)
    assert [r.is_ok() for r in first].count(False) == 2
    record = await runs(durable).get(run_id)
    assert record is not None
    assert (record.kind, record.agent_name, record.status) == ("gather", "w", "failed")
    assert record.input == [f"q{i}" for i in range(10)]
    resumed = await durable.resume(run_id)
    assert isinstance(resumed, list)
    assert [r.output.question for r in resumed] == [f"q{i}" for i in range(10)]
    assert [r.task_id for r in resumed] == [r.task_id for r in first]
    assert all(isinstance(r.output, Answer) for r in resumed)
    assert calls.count == Counter({("w", f"q{i}"): 2 if i in (3, 7) else 1 for i in range(10)})
    record = await runs(durable).get(run_id)
    assert record is not None
    assert record.status == "completed"
    assert record.progress["restored"] == 8


async def test_the_same_gather_call_with_the_same_run_id_is_idempotent(
    durable: AgentRuntime,
) -> None:
    """Calling gather again with a finished batch's run_id returns its results without runs."""
    calls = Calls()
    agent = Agent(name="w", model=calls.model("w"))
    run_id = new_id()
    first = await durable.gather(agent, ["x", "y"], run_id=run_id)
    second = await durable.gather(agent, ["x", "z"], run_id=run_id)
    assert [r.output for r in second] == [first[0].output, "w(z)"]
    assert calls.count == Counter({("w", "x"): 1, ("w", "y"): 1, ("w", "z"): 1})


async def test_each_task_of_a_batch_carries_its_run_id(durable: AgentRuntime) -> None:
    """Every task's run record names the batch (metadata gather_run_id and item)."""
    agent = Agent(name="w", model=Calls().model("w"))
    run_id = new_id()
    results = await durable.gather(agent, ["x", "y"], run_id=run_id)
    record = await runs(durable).get(results[1].trace_id)
    assert record is not None
    assert (record.metadata["gather_run_id"], record.metadata["item"]) == (run_id, 1)


async def test_gather_without_run_id_records_a_batch_that_can_be_found(
    durable: AgentRuntime,
) -> None:
    """A store-backed gather without run_id is still recorded under a fresh id."""
    agent = durable.register(Agent(name="w", model=Calls().model("w")))
    await durable.gather(agent, ["x"])
    batches = await runs(durable).list(kind="gather")
    assert [(b.agent_name, b.status) for b in batches] == [("w", "completed")]
    resumed = await durable.resume(batches[0].run_id)
    assert isinstance(resumed, list)
    assert [r.output for r in resumed] == ["w(x)"]


async def test_a_run_id_of_another_agent_is_a_conflict(durable: AgentRuntime) -> None:
    """Reusing a batch run id for another agent is refused instead of mixing results."""
    run_id = new_id()
    await durable.gather(Agent(name="w", model=Calls().model("w")), ["x"], run_id=run_id)
    with pytest.raises(SpawnError) as info:
        await durable.gather(Agent(name="v", model=Calls().model("v")), ["x"], run_id=run_id)
    assert info.value.code == "run_conflict"


async def test_durability_needs_a_store() -> None:
    """gather(run_id=...) and resume() without a store fail with code no_store."""
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    agent = Agent(name="w", model=Calls().model("w"))
    with pytest.raises(SpawnError) as info:
        await runtime.gather(agent, ["x"], run_id=new_id())
    assert info.value.code == "no_store"
    with pytest.raises(SpawnError) as info:
        await runtime.resume(new_id())
    assert info.value.code == "no_store"
    results: list[AgentResult[str]] = await runtime.gather(agent, ["x"])
    assert results[0].output == "w(x)"


async def test_only_groups_and_batches_resume(durable: AgentRuntime) -> None:
    """resume() of an unknown id or of a single agent run is a typed RegistryError."""
    with pytest.raises(RegistryError) as info:
        await durable.resume(new_id())
    assert info.value.code == "run_not_found"
    single = await durable.run(Agent(name="w", model=Calls().model("w")), "x")
    with pytest.raises(RegistryError) as info:
        await durable.resume(single.trace_id)
    assert info.value.code == "not_resumable"


def test_register_group_refuses_a_second_group_with_the_same_name() -> None:
    """register_group keeps one group per name unless replace=True."""
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    first = runtime.register_group(pipeline(Calls()))
    with pytest.raises(RegistryError):
        runtime.register_group(pipeline(Calls()))
    second = runtime.register_group(pipeline(Calls()), replace=True)
    assert runtime.groups == {"pipeline": second}
    assert second is not first


async def check_invalid_checkpoint_fails_its_node(runtime: AgentRuntime) -> None:
    """Shared by the memory and SQLite tests: a node checkpoint that no longer validates
    fails that node on resume with checkpoint_invalid; its downstream is skipped because
    of it (not "timed out"), and failed_nodes lists it."""
    calls = Calls()
    a = Agent(name="a", model=calls.model("a", structured=True), output_type=Answer)
    b, c = (Agent(name=n, model=calls.model(n)) for n in ("b", "c"))
    crew = runtime.register_group(
        AgentGroup(name="typed", topology={a: Edge(to=(b,)), b: Edge(to=(c,)), c: Edge.terminal()})
    )
    task = TaskSpec(input="go")
    calls.fail.add(("b", '{"question":"go","answer":"a:go"}'))
    first = await runtime.run_group(crew, task)
    assert first.failed_nodes == ["b"]
    assert runtime.stores is not None
    await runtime.stores.runs.put_checkpoint(
        task.trace_id, "node:a", {"outputs": [{"not": "an Answer"}], "fanned_out": False}
    )
    resumed = await runtime.resume(task.trace_id)
    assert isinstance(resumed, GroupResult)
    assert resumed.failed_nodes == ["a"]
    error = resumed.nodes["a"].error
    assert isinstance(error, SpawnError)
    assert error.code == "checkpoint_invalid"
    assert resumed.error is error
    assert resumed.nodes["b"].reason == "upstream a failed"
    assert [resumed.nodes[n].status.value for n in ("b", "c")] == ["skipped", "skipped"]
    assert not any("timed out" in str(node.reason) for node in resumed.nodes.values())
    assert calls.per_agent()["a"] == 1  # the node failed; it was not run again


async def test_an_invalid_checkpoint_fails_its_node_on_resume(durable: AgentRuntime) -> None:
    """A node checkpoint that no longer matches its output_type fails that node with
    SpawnError(checkpoint_invalid) on resume, listed in failed_nodes."""
    await check_invalid_checkpoint_fails_its_node(durable)


async def test_a_gather_whose_final_record_cannot_be_written_raises_and_resumes() -> None:
    """When the batch's finished record cannot be written, gather raises the store's error
    (it does not return results nobody recorded); resume then returns every result from
    its checkpoint without a model call."""
    from murmur.runs import InMemoryEventStore, InMemoryRunStore, RunRecord, Stores

    class RefusesFinishedBatches(InMemoryRunStore):
        refuse = True

        async def put(self, record: RunRecord) -> None:
            if self.refuse and record.kind == "gather" and record.status.finished:
                raise RegistryError("the store is down", code="store_unavailable")
            await super().put(record)

    store = RefusesFinishedBatches()
    runtime = AgentRuntime(
        store=Stores(runs=store, events=InMemoryEventStore()), event_emitter=NullEventEmitter()
    )
    calls = Calls()
    agent = Agent(name="w", model=calls.model("w"))
    run_id = new_id()
    with pytest.raises(RegistryError) as info:
        await runtime.gather(agent, ["x", "y"], run_id=run_id)
    assert info.value.code == "store_unavailable"
    assert "runtime.resume(run_id)" in info.value.message
    store.refuse = False
    runtime.register(agent)
    results = await runtime.resume(run_id)
    assert isinstance(results, list)
    assert [r.output for r in results] == ["w(x)", "w(y)"]
    assert calls.per_agent() == Counter({"w": 2})
    await runtime.aclose()

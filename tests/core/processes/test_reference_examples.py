"""Every example of reference 003 (ramure's README), adapted only in its imports.

The examples' agents have no model: each test registers an agent of that name, driven by a
PydanticAI FunctionModel, on a runtime the root processes use (`use_runtime`).
"""

from __future__ import annotations

import asyncio

import pytest

from murmur import Agent, AgentRuntime, SpawnError
from murmur.processes import (
    agent,
    agent_process,
    bubble,
    done,
    emit,
    expose,
    fail,
    spawn,
    use_runtime,
    wait,
)

from .conftest import calling

# -- Quick start --------------------------------------------------------------------------


@agent_process
async def run_task(spec: str) -> str:
    # initialize an agent (either locally or on a remote sandbox)
    worker = await agent(f"worker")  # noqa: F541 - verbatim from the reference

    # register tools the agent can call in-harness
    @worker.on("finish")
    async def on_finish(summary: str) -> str:
        """Call with your result when the task is done."""
        done(summary)
        return "Recorded."

    @worker.on("give_up")
    async def on_give_up(reason: str) -> str:
        """Call if you cannot complete the task."""
        fail(f"gave_up: {reason}")
        return "Recorded."

    await worker.send(
        f"Task:\n\n{spec}\n\nWhen done, call finish(summary). If impossible, call give_up(reason)."
    )
    # wait for the done/fail lifecycle triggered by the agent events
    return await wait()


def haiku_worker() -> Agent:
    """Finishes with a summary of the task, or gives up when the task says 'impossible'."""

    def choose(prompt: str, info: object) -> tuple[str, dict[str, str]]:
        task = prompt.split("\n\n")[1]
        if "impossible" in task:
            return "give_up", {"reason": "cannot"}
        return "finish", {"summary": f"did: {task}"}

    return Agent(name="worker", model=calling(choose))


async def test_quick_start_finishes_with_the_summary_the_agent_reports() -> None:
    """The quick start's process returns what the agent passed to finish()."""
    runtime = AgentRuntime()
    runtime.register(haiku_worker())
    with use_runtime(runtime):
        result = await run_task("Write 10 diverse haikus about git rebase.")
    assert result == "did: Write 10 diverse haikus about git rebase."


async def test_quick_start_fails_with_the_reason_the_agent_gives_up_with() -> None:
    """When the agent calls give_up, the process raises the typed failure with its reason."""
    runtime = AgentRuntime()
    runtime.register(haiku_worker())
    with use_runtime(runtime), pytest.raises(SpawnError) as caught:
        await run_task("Prove P = NP (impossible).")
    assert (caught.value.code, caught.value.details["reason"]) == (
        "process_failed",
        "gave_up: cannot",
    )


# -- Composition --------------------------------------------------------------------------


def echo_agent(name: str, template: str) -> Agent:
    """An agent whose reply is `template` filled with the prompt (no tool calls)."""

    def choose(prompt: str, info: object) -> None:
        return None

    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    async def respond(messages, info):
        prompt = messages[-1].parts[-1].content
        return ModelResponse(parts=[TextPart(template.format(prompt))])

    return Agent(name=name, model=FunctionModel(respond))


@agent_process
async def write_code(spec: str) -> str:
    coder = await agent("coder")
    return await coder.send(spec)


@agent_process
async def review_code(code: str) -> str:
    reviewer = await agent("reviewer")
    return await reviewer.send(code)


@agent_process
async def research(topic: str) -> str:
    researcher = await agent("researcher")
    return await researcher.send(topic)


def composition_runtime() -> AgentRuntime:
    runtime = AgentRuntime()
    runtime.register(echo_agent("coder", "def {}(): ..."))
    runtime.register(echo_agent("reviewer", "LGTM: {}"))
    runtime.register(echo_agent("researcher", "notes on {}"))
    return runtime


async def test_processes_compose_with_await() -> None:
    """A process awaits other processes like async functions (the composition example)."""
    reviews: list[str] = []

    @agent_process
    async def main():
        code = await write_code("fibonacci function")
        review = await review_code(code)
        reviews.append(review)
        return code

    with use_runtime(composition_runtime()):
        assert await main() == "def fibonacci function(): ..."
    assert reviews == ["LGTM: def fibonacci function(): ..."]


async def test_processes_fan_out_with_asyncio_gather() -> None:
    """Child processes run concurrently under asyncio.gather (the fan-out example)."""

    @agent_process
    async def main():
        results = await asyncio.gather(
            research("Rust"),
            research("Python"),
        )
        return results

    with use_runtime(composition_runtime()):
        assert await main() == ["notes on Rust", "notes on Python"]


# -- Observation, bubbling, and retry ------------------------------------------------------


def flaky(fail_first: int):
    attempts: list[int] = []

    @agent_process
    async def flaky_task(spec: str) -> str:
        attempts.append(1)
        if len(attempts) <= fail_first:
            fail("flaked")
        else:
            done(f"haiku for: {spec}")
        return await wait()

    return flaky_task, attempts


async def test_observing_a_spawned_child_returns_its_done_data() -> None:
    """The observation example: the parent reads the child's stream and returns done's data."""
    flaky_task, _ = flaky(fail_first=0)

    @agent_process
    async def main():
        handle = spawn(flaky_task, "write a haiku")
        async for event in handle.events:
            if event.type == "failed":
                handle = spawn(flaky_task, "write a haiku")
            elif event.type == "done":
                return event.data

    assert await main() == "haiku for: write a haiku"


async def test_the_retry_example_as_written_keeps_reading_the_first_handle() -> None:
    """Rebinding `handle` inside `async for` does not switch streams: after a failure the
    loop ends with the first child's stream, so main returns None (restarting() is the
    helper that retries; see test_supervision)."""
    flaky_task, attempts = flaky(fail_first=1)

    @agent_process
    async def main():
        handle = spawn(flaky_task, "write a haiku")
        async for event in handle.events:
            if event.type == "failed":
                handle = spawn(flaky_task, "write a haiku")
            elif event.type == "done":
                return event.data

    assert await main() is None
    assert len(attempts) == 1  # the retry was spawned, and cancelled when main ended


def tid_worker() -> Agent:
    def choose(prompt: str, info: object) -> tuple[str, dict[str, str]]:
        return "finish", {"summary": f"done: {prompt}"}

    return Agent(name="worker", model=calling(choose))


@agent_process
async def run_tid_task(tid: str, spec: str) -> str:
    worker = await agent("worker")

    @worker.on("finish")
    async def on_finish(summary: str) -> str:
        """Call with your result when the task is done."""
        done(summary)
        return "Recorded."

    await worker.send(spec)
    return await wait()


async def test_bubbled_child_events_reach_the_grandparent_tagged_with_their_source() -> None:
    """The bubbling example: a parent observing spawn(worker_pool, specs).events sees the
    workers' events tagged source=tid."""
    run_task = run_tid_task

    @agent_process
    async def worker_pool(specs: list[str]) -> None:
        for i, spec in enumerate(specs):
            tid = f"t{i:04d}"
            bubble(spawn(run_task, tid, spec), source=tid)
        await wait()

    @agent_process
    async def main() -> dict[str, object]:
        finished: dict[str, object] = {}
        async for event in spawn(worker_pool, ["a", "b", "c"]).events:
            if event.type == "done" and event.source is not None:
                finished[event.source] = event.data
            if len(finished) == 3:
                return finished
        return finished

    runtime = AgentRuntime()
    runtime.register(tid_worker())
    with use_runtime(runtime):
        assert await main() == {"t0000": "done: a", "t0001": "done: b", "t0002": "done: c"}


# -- Endpoints and afforded interfaces -----------------------------------------------------


def endpoint_example():
    run_task = run_tid_task

    @agent_process
    async def worker_pool() -> None:
        specs: dict[str, str] = {}

        @expose
        async def add_task(spec: str) -> str:
            tid = f"t{len(specs):04d}"
            specs[tid] = spec
            emit("task_added", {"task_id": tid, "spec": spec})
            bubble(spawn(run_task, tid, spec), source=tid)
            return tid

        @expose
        async def tasks() -> dict[str, str]:
            return dict(specs)

        emit("ready", None)
        await wait()

    return worker_pool


async def test_the_endpoint_example_runs_as_written() -> None:
    """The pool is called directly and attached to a monitor agent as prefixed tools."""
    worker_pool = endpoint_example()
    seen: dict[str, object] = {}

    @agent_process
    async def main():
        pool = spawn(worker_pool)
        async for event in pool.events:
            if event.type == "ready":
                break

        # call directly
        await pool.call("add_task", spec="Write a haiku about git rebase.")

        # or attach an agent to call the exposed functions on the pool,
        # which get exposed as tools
        monitor = await agent(
            "monitor",
            system_prompt="You run a pool of workers.",
        )
        await pool.attach(monitor, prefix="pool_")
        seen["tools"] = monitor.tools
        seen["tasks"] = await pool.call("tasks")
        seen["agents"] = sorted(pool.agents)

    runtime = AgentRuntime()
    runtime.register(tid_worker())
    with use_runtime(runtime):
        assert await main() is None
    assert seen == {
        "tools": ["pool_add_task", "pool_tasks"],
        "tasks": {"t0000": "Write a haiku about git rebase."},
        "agents": [],  # the pool's workers belong to its children, not to the pool
    }


async def test_an_attached_monitor_agent_adds_tasks_through_the_pool_endpoint() -> None:
    """The monitor's model calls pool_add_task; the endpoint runs in the pool's scope, so
    task_added lands on the pool's stream and the worker's done is bubbled there too."""
    worker_pool = endpoint_example()

    def choose(prompt: str, info: object) -> tuple[str, dict[str, str]]:
        return "pool_add_task", {"spec": prompt}

    @agent_process
    async def main() -> list[tuple[str, object, str | None]]:
        pool = spawn(worker_pool)
        monitor = await agent("monitor", model=calling(choose))
        async for event in pool.events:
            if event.type == "ready":
                await pool.attach(monitor, prefix="pool_")
                await monitor.send("haiku please")
            if event.type == "done" and event.source == "t0000":
                return [(e.type, e.data, e.source) async for e in _until(pool, "done")]
        raise AssertionError("the pool's stream ended")

    async def _until(pool, type_):
        async for e in pool.events:
            yield e
            if e.type == type_:
                return

    runtime = AgentRuntime()
    runtime.register(tid_worker())
    with use_runtime(runtime):
        events = await main()
    assert ("task_added", {"task_id": "t0000", "spec": "haiku please"}, None) in events
    assert ("done", "done: haiku please", "t0000") in events

"""The backend contract (shared part): what a run looks like to its caller.

- `BackendContract`: typed outputs, gather order and bounded in-flight, failures as results,
  the same events as a local run, hooks applied once, timeouts. Provide `make_runtime`.
- `BrokerBackendContract`: the same, on a worker fleet over a broker URL (an in-process
  `Worker` consumes it), plus what only a broker has: duplicate results dropped, idempotent
  task ids, signed envelopes (forged / unsigned / replayed / stale refused and never
  executed, a worker with the wrong key refuses everything), expired tasks dropped, abandoned
  deliveries reclaimed, cancelled callers cancelling their work. Provide `broker_url`:

```python
class TestRedisFleet(BrokerBackendContract):
    @pytest.fixture
    def broker_url(self):
        return f"redis://127.0.0.1:6379/0?namespace=test-{uuid.uuid4().hex}"
```
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

from murmur.agent import Agent
from murmur.core.errors import MurmurError
from murmur.events import CollectingEventEmitter, EventEmitter, EventType
from murmur.runtime import AgentRuntime, RuntimeOptions
from murmur.types import TaskSpec

__all__ = ["BackendContract", "Finding", "LocalBackendContract", "Probe"]


class Probe:
    """A scripted model for contract tests: echoes its prompt as `echo:<prompt>`.

    It optionally answers after a delay, and counts calls and the peak number of concurrent calls.
    """

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.calls = 0
        self.active = 0
        self.peak = 0
        self.prompts: list[str] = []

    def model(self) -> Any:
        """A PydanticAI `FunctionModel` driven by this probe."""
        from pydantic_ai.messages import ModelResponse, TextPart
        from pydantic_ai.models.function import FunctionModel

        async def respond(messages: list[Any], info: Any) -> Any:
            self.calls += 1
            self.active += 1
            self.peak = max(self.peak, self.active)
            try:
                prompt = str(messages[-1].parts[-1].content)
                self.prompts.append(prompt)
                if self.delay:
                    await asyncio.sleep(self.delay)
                if self.fail:
                    raise RuntimeError("probe failure")
                return ModelResponse(parts=[TextPart(f"echo:{prompt}")])
            finally:
                self.active -= 1

        return FunctionModel(respond)


class Finding(BaseModel):
    """A typed output for the contract tests."""

    answer: str
    confidence: float


MakeRuntime = Callable[..., Awaitable[AgentRuntime]]


class BackendContract:
    """Behaviour of every backend as seen through `AgentRuntime`.

    Provide `make_runtime`: an async factory `make_runtime(agents, *, tools=None, options=None,
    emitter=None)` that returns a started runtime able to run `agents` (registering `tools`, a name
    -> function mapping, wherever the agents execute), closed after the test.
    """

    settle_s: ClassVar[float] = 15.0

    @pytest.fixture
    async def make_runtime(self) -> AsyncIterator[MakeRuntime]:
        """Override: the runtime factory."""
        raise NotImplementedError("provide a make_runtime fixture")
        return  # pragma: no cover

    async def test_typed_output_comes_back_as_the_output_type(
        self, make_runtime: MakeRuntime
    ) -> None:
        """A run returns the agent's pydantic output_type, not a dict."""
        agent = Agent(name="typed", model="test", output_type=Finding)
        runtime = await make_runtime([agent])
        result = await runtime.run(agent, TaskSpec(input="q"))
        assert result.is_ok(), result.error
        assert isinstance(result.output, Finding)

    async def test_scalar_output_type_is_revalidated(self, make_runtime: MakeRuntime) -> None:
        """An int output_type comes back as an int."""
        agent = Agent(name="count", model="test", output_type=int)
        runtime = await make_runtime([agent])
        result = await runtime.run(agent, "how many?")
        assert result.is_ok(), result.error
        assert isinstance(result.output, int)

    async def test_gather_keeps_task_order(self, make_runtime: MakeRuntime) -> None:
        """`gather` returns results in task order, each for its own input."""
        probe = Probe(delay=0.01)
        agent = Agent(name="echo", model=probe.model())
        runtime = await make_runtime([agent])
        tasks = [TaskSpec(input=f"q{i}") for i in range(12)]
        results = await runtime.gather(agent, tasks, max_concurrency=4)
        assert [f"echo:q{i}" for i in range(12)] == [r.output for r in results]
        assert [t.id for t in tasks] == [r.task_id for r in results]

    async def test_gather_bounds_tasks_in_flight(self, make_runtime: MakeRuntime) -> None:
        """gather(max_concurrency=n) never has more than n runs executing at once."""
        probe = Probe(delay=0.05)
        agent = Agent(name="bounded", model=probe.model())
        runtime = await make_runtime([agent])
        results = await runtime.gather(agent, [f"q{i}" for i in range(10)], max_concurrency=3)
        assert all(r.is_ok() for r in results)
        assert probe.calls == 10, sorted(probe.prompts)
        assert probe.peak <= 3

    async def test_failure_is_a_typed_result(self, make_runtime: MakeRuntime) -> None:
        """A failing run returns a result whose error is a MurmurError; gather goes on."""
        probe = Probe(fail=True)
        agent = Agent(name="broken", model=probe.model())
        runtime = await make_runtime([agent])
        results = await runtime.gather(agent, ["a", "b"])
        assert [r.is_ok() for r in results] == [False, False]
        assert all(isinstance(r.error, MurmurError) for r in results)

    async def test_trace_and_task_ids_are_preserved(self, make_runtime: MakeRuntime) -> None:
        """The result carries the task's own task id and trace id."""
        agent = Agent(name="ids", model="test")
        runtime = await make_runtime([agent])
        task = TaskSpec(input="x", parent_trace_id="f" * 32)
        result = await runtime.run(agent, task)
        assert (task.id, task.trace_id, "f" * 32) == (
            result.metadata.task_id,
            result.metadata.trace_id,
            result.metadata.parent_trace_id,
        )

    async def test_events_match_a_local_run(self, make_runtime: MakeRuntime) -> None:
        """Each run emits one AGENT_SPAWNED and one AGENT_COMPLETED, and its tool calls."""
        events = CollectingEventEmitter()
        agent = Agent(name="tooled", model="test", tools=["lookup"])

        def lookup(term: str) -> str:
            return f"found {term}"

        runtime = await make_runtime([agent], tools={"lookup": lookup}, emitter=events)
        tasks = [TaskSpec(input=f"q{i}") for i in range(3)]
        results = await runtime.gather(agent, tasks)
        assert all(r.is_ok() for r in results), [r.error for r in results]
        for task in tasks:
            mine = [e.event_type for e in events.events if e.task_id == task.id]
            assert mine.count(EventType.AGENT_SPAWNED) == 1
            assert mine.count(EventType.AGENT_COMPLETED) == 1
            assert mine.count(EventType.TOOL_CALL_STARTED) == 1
            assert mine.count(EventType.TOOL_CALL_COMPLETED) == 1
            assert mine[0] == EventType.AGENT_SPAWNED
            assert mine[-1] == EventType.AGENT_COMPLETED

    async def test_input_validation_and_hooks_run_once(self, make_runtime: MakeRuntime) -> None:
        """input_type validation, pre_process and post_process each apply exactly once."""

        class Question(BaseModel):
            text: str

        probe = Probe()
        agent = Agent(
            name="hooked",
            model=probe.model(),
            input_type=Question,
            pre_process=[lambda q: Question(text=q.text + "!")],
            post_process=[lambda out: out + "?"],
        )
        runtime = await make_runtime([agent])
        result = await runtime.run(agent, {"text": "hi"})
        assert result.is_ok(), result.error
        assert result.output == 'echo:{"text":"hi!"}?'
        bad = await runtime.run(agent, {"wrong": 1})
        assert bad.error.code == "input_invalid" if bad.error else None
        assert probe.calls == 1

    async def test_timeout_fails_the_run(self, make_runtime: MakeRuntime) -> None:
        """A run longer than timeout_seconds fails with code "timeout"."""
        probe = Probe(delay=5.0)
        agent = Agent(name="slow", model=probe.model())
        runtime = await make_runtime([agent], options=RuntimeOptions(timeout_seconds=0.3))
        result = await runtime.run(agent, "wait")
        assert not result.is_ok()
        assert result.error.code == "timeout" if result.error else None


class LocalBackendContract(BackendContract):
    """`BackendContract` for the in-process backend (and a template for local backends)."""

    @pytest.fixture
    async def make_runtime(self) -> AsyncIterator[MakeRuntime]:
        """In-process runtimes."""
        made: list[AgentRuntime] = []

        async def make(
            agents: Sequence[Agent[Any]],
            *,
            tools: dict[str, Callable[..., Any]] | None = None,
            options: RuntimeOptions | None = None,
            emitter: EventEmitter | None = None,
        ) -> AgentRuntime:
            runtime = AgentRuntime(options, event_emitter=emitter or CollectingEventEmitter())
            for name, fn in (tools or {}).items():
                runtime.tools.register(name, fn)
            await runtime.start()
            made.append(runtime)
            return runtime

        yield make
        for runtime in made:
            await runtime.aclose()

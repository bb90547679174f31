"""A real fleet on any broker: `murmur worker start` processes serving a caller in the test.

Subclass `ProcessFleetScenarios` and provide `broker_url` (a namespace unique to the
test). The scenarios are the per-broker fleet checks every murmur broker passes:

- a 200-task gather over 2 worker processes comes back typed, correct and in task order;
- a worker SIGKILLed mid-task loses nothing (the broker hands its tasks to a survivor);
- a signed worker refuses forged, unsigned and replayed envelopes;
- a worker with the wrong key refuses everything.

```python
import uuid

import pytest
from murmur.testing.fleet_processes import ProcessFleetScenarios


class TestMyBrokerWorkerProcesses(ProcessFleetScenarios):
    @pytest.fixture
    def broker_url(self):
        return f"mybroker://127.0.0.1?namespace=test-{uuid.uuid4().hex}"
```

The worker processes run `doubler` (`murmur.testing.fleet_processes.agents`, installed
with murmur: no `PYTHONPATH` needed) and record each execution in a file of the test's own,
so the scenarios count what really ran. `ProcessFleetFixtures` alone gives other suites the
same workers, callers and fleet events (the soak scenario uses it), and `WorkerProcesses`,
`collect_fleet_events` and `until` serve suites whose workers run an app of their own.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from murmur.backends import JobBackend
from murmur.events import CollectingEventEmitter, EventType
from murmur.runtime import AgentRuntime, RuntimeOptions
from murmur.testing._processes import (
    Doubled,
    Executions,
    Number,
    WorkerProcesses,
    agents,
    collect_fleet_events,
    doubler,
    python_path,
    until,
)
from murmur.transport import EnvelopeSigner, TaskEnvelope, encode_frame, resolve_transport
from murmur.types import TaskSpec

__all__ = [
    "Doubled",
    "Executions",
    "Number",
    "ProcessFleetFixtures",
    "ProcessFleetScenarios",
    "StartWorker",
    "WorkerProcesses",
    "agents",
    "collect_fleet_events",
    "doubler",
    "python_path",
    "until",
]

StartWorker = Callable[..., Awaitable[Process]]
"""`start_worker(*flags, delay_s=0.01, concurrency=16)`: a started worker process."""


async def _both_serve(
    runtime: AgentRuntime, executions: Executions, pids: set[int], within_s: float
) -> None:
    """Send warm-up tasks until every worker process has run one.

    A partitioned broker may still be assigning partitions to the second worker.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while {p for p, _ in executions.read()} != pids:
        if loop.time() > deadline:
            pytest.fail(f"not every worker served within {within_s:g}s")
        await runtime.gather(doubler, [Number(n=-1 - i) for i in range(8)])


class ProcessFleetFixtures:
    """Worker processes, callers and fleet events on one broker. Provide `broker_url`."""

    start_timeout_s: ClassVar[float] = 60.0
    """How long a worker process may take to start consuming."""

    reclaim_min_idle_ms: ClassVar[int] = 1000
    """The reclaim window of the SIGKILL scenario's workers."""

    settle_s: ClassVar[float] = 60.0
    """How long the SIGKILL scenario may take to finish once the survivor runs."""

    @pytest.fixture
    def broker_url(self) -> str:
        """Override: a broker URL with a namespace unique to the test."""
        raise NotImplementedError("provide a broker_url fixture")

    @pytest.fixture
    def executions(self, tmp_path: Path) -> Executions:
        """What the worker processes ran."""
        return Executions(tmp_path / "executions.txt")

    @pytest.fixture
    async def fleet_events(self, broker_url: str) -> AsyncIterator[CollectingEventEmitter]:
        """Fleet events (worker started, task rejected, ...) seen from the test."""
        async with collect_fleet_events(broker_url) as seen:
            yield seen

    @pytest.fixture
    async def start_worker(
        self, broker_url: str, executions: Executions, fleet_events: CollectingEventEmitter
    ) -> AsyncIterator[StartWorker]:
        """Start `murmur worker start` processes (returns once each is consuming)."""
        workers = WorkerProcesses(
            broker_url,
            executions.path.parent,
            fleet_events=fleet_events,
            env={"MURMUR_TEST_EXECUTIONS": str(executions.path)},
            start_timeout_s=self.start_timeout_s,
        )

        async def start(*extra: str, delay_s: float = 0.01, concurrency: int = 16) -> Process:
            return await workers.start(
                "--concurrency", str(concurrency), "--heartbeat-interval", "1", *extra,
                env={"MURMUR_TEST_DELAY_S": str(delay_s)},
            )  # fmt: skip

        yield start
        await workers.aclose()

    @pytest.fixture
    async def caller(self, broker_url: str) -> AsyncIterator[Callable[..., AgentRuntime]]:
        """Caller runtimes on the broker, closed after the test."""
        made: list[AgentRuntime] = []

        def make(options: RuntimeOptions | None = None) -> AgentRuntime:
            runtime = AgentRuntime(options, broker=broker_url)
            made.append(runtime)
            return runtime

        yield make
        for runtime in made:
            await runtime.aclose()


class ProcessFleetScenarios(ProcessFleetFixtures):
    """Fleet scenarios with worker processes. Provide the `broker_url` fixture."""

    async def test_two_worker_processes_serve_a_200_task_gather_in_order(
        self, start_worker: StartWorker, caller: Callable[..., AgentRuntime], executions: Any
    ) -> None:
        """200 tasks over 2 worker processes: 200 typed, correct results, in task order."""
        first, second = await start_worker(), await start_worker()
        runtime = caller(RuntimeOptions(timeout_seconds=60))
        await _both_serve(runtime, executions, {first.pid, second.pid}, self.start_timeout_s)
        before = len(executions.read())
        tasks = [TaskSpec(input=Number(n=i)) for i in range(200)]
        results = await runtime.gather(doubler, tasks, max_concurrency=50)
        assert [r.is_ok() for r in results] == [True] * 200, [r.error for r in results][:3]
        outputs = [r.output for r in results]
        assert all(isinstance(o, Doubled) for o in outputs)
        assert [(o.n, o.doubled) for o in outputs] == [(i, 2 * i) for i in range(200)]
        assert {o.pid for o in outputs} == {first.pid, second.pid}
        assert len(executions.read()) - before == 200

    async def test_a_worker_killed_mid_task_loses_nothing(
        self, start_worker: StartWorker, caller: Callable[..., AgentRuntime], executions: Any
    ) -> None:
        """SIGKILL a worker holding tasks: each still completes exactly once for the caller."""
        window = ["--reclaim-min-idle-ms", str(self.reclaim_min_idle_ms)]
        doomed = await start_worker(*window, delay_s=1.5, concurrency=4)
        runtime = caller(RuntimeOptions(timeout_seconds=self.settle_s + 30))
        tasks = [TaskSpec(input=Number(n=i)) for i in range(12)]
        gathering = asyncio.create_task(runtime.gather(doubler, tasks, max_concurrency=12))
        await until(lambda: len(executions.read()) >= 1, 30, "the doomed worker to take tasks")
        doomed.send_signal(signal.SIGKILL)
        await asyncio.wait_for(doomed.wait(), 10)
        survivor = await start_worker(*window, delay_s=0.05)
        results = await asyncio.wait_for(gathering, self.settle_s)
        assert [(r.output.n, r.output.doubled) for r in results] == [(i, 2 * i) for i in range(12)]
        backend = runtime.backend
        assert isinstance(backend, JobBackend)
        assert backend.stats["results"] == 12
        ran = executions.read()
        assert len(ran) >= 12
        finished_by_doomed = {r.output.n for r in results if r.output.pid == doomed.pid}
        abandoned = {n for p, n in ran if p == doomed.pid} - finished_by_doomed
        assert abandoned  # the doomed worker was killed holding tasks...
        assert abandoned <= {n for p, n in ran if p == survivor.pid}  # ...the survivor ran them

    async def test_forged_unsigned_and_replayed_envelopes_are_never_executed(
        self,
        start_worker: StartWorker,
        broker_url: str,
        fleet_events: CollectingEventEmitter,
        executions: Any,
    ) -> None:
        """A signed worker process refuses forged, unsigned and replayed envelopes."""
        await start_worker("--signing-key", "fleet-key")
        raw = resolve_transport(broker_url)
        await raw.connect()
        try:

            def frame(signer: EnvelopeSigner | None) -> bytes:
                body = TaskEnvelope(
                    task_id=uuid.uuid4().hex,
                    agent_name="doubler",
                    input='{"n": 1}',
                    trace_id=uuid.uuid4().hex,
                    reply_to="nobody",
                ).body()
                return encode_frame(signer.sign(body) if signer else body)

            genuine = frame(EnvelopeSigner("fleet-key"))
            await raw.publish_task("doubler", genuine)
            await until(lambda: len(executions.read()) == 1, 30, "the genuine task")
            await raw.publish_task("doubler", frame(EnvelopeSigner("forger")))
            await raw.publish_task("doubler", frame(None))
            await raw.publish_task("doubler", genuine)  # the replay
            rejected = lambda: fleet_events.of_type(EventType.TASK_REJECTED)  # noqa: E731
            await until(lambda: len(rejected()) == 3, 30, "3 rejections")
            assert sorted(e.payload["reason"] for e in rejected()) == [
                "bad_signature",
                "replayed",
                "unsigned",
            ]
            await asyncio.sleep(0.5)
            assert len(executions.read()) == 1
        finally:
            await raw.close()

    async def test_a_worker_with_the_wrong_key_rejects_everything(
        self,
        start_worker: StartWorker,
        caller: Callable[..., AgentRuntime],
        fleet_events: CollectingEventEmitter,
        executions: Any,
    ) -> None:
        """Every task from a caller with another key is refused by the worker process."""
        await start_worker("--signing-key", "worker-key")
        runtime = caller(RuntimeOptions(broker_signing_key="caller-key", timeout_seconds=3.0))
        results = await runtime.gather(doubler, [Number(n=i) for i in range(5)])
        assert [r.error.code if r.error else None for r in results] == ["timeout"] * 5
        rejected = lambda: fleet_events.of_type(EventType.TASK_REJECTED)  # noqa: E731
        await until(lambda: len(rejected()) == 5, 30, "5 rejections")
        assert {e.payload["reason"] for e in rejected()} == {"bad_signature"}
        assert executions.read() == []

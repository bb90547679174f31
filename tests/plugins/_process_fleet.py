"""A real fleet on any broker: `murmur worker start` processes serving a caller in the test.

Subclass `ProcessFleetScenarios` and provide `broker_url` (a namespace unique to the test).
The scenarios are the issue's per-broker fleet checks: a 200-task gather over 2 worker
processes comes back typed and in order; a worker SIGKILLed mid-task loses nothing; a
signed worker refuses forged, unsigned and replayed envelopes; a worker with the wrong key
refuses everything.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from murmur import Agent, AgentRuntime, RuntimeOptions, TaskSpec
from murmur.backends import JobBackend
from murmur.events import CollectingEventEmitter, EventType
from murmur.transport import EnvelopeSigner, TaskEnvelope, encode_frame, resolve_transport
from murmur.worker import BrokerEventBridge

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from _fleet_proc_app import Doubled, Number  # noqa: E402

# The caller's view of the agent: same name and types; the model runs on the workers.
doubler = Agent(name="doubler", model="test", input_type=Number, output_type=Doubled)

StartWorker = Callable[..., Awaitable[Process]]


class _Executions:
    """The executions the worker processes recorded: `(pid, n)` pairs."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[tuple[int, int]]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().split()
        return [(int(p), int(n)) for p, n in zip(lines[::2], lines[1::2], strict=True)]


async def _until(check: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:g}s waiting for {what}")
        await asyncio.sleep(0.05)


async def _both_serve(
    runtime: AgentRuntime, executions: _Executions, pids: set[int], within_s: float
) -> None:
    """Send warm-up tasks until every worker process has run one (a partitioned broker may
    still be assigning partitions to the second worker)."""
    deadline = time.monotonic() + within_s
    while {p for p, _ in executions.read()} != pids:
        if time.monotonic() > deadline:
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
    def executions(self, tmp_path: Path) -> _Executions:
        """What the worker processes ran."""
        return _Executions(tmp_path / "executions.txt")

    @pytest.fixture
    async def fleet_events(self, broker_url: str) -> AsyncIterator[CollectingEventEmitter]:
        """Fleet events (worker started, task rejected, ...) seen from the test."""
        transport = resolve_transport(broker_url)
        await transport.connect()
        seen = CollectingEventEmitter()
        bridge = BrokerEventBridge(transport)
        await bridge.forward_to(seen)
        yield seen
        await bridge.aclose()
        await transport.close()

    @pytest.fixture
    async def start_worker(
        self, broker_url: str, executions: _Executions, fleet_events: CollectingEventEmitter
    ) -> AsyncIterator[StartWorker]:
        """Start `murmur worker start` processes (returns once each is consuming)."""
        procs: list[Process] = []

        async def start(*extra: str, delay_s: float = 0.01, concurrency: int = 16) -> Process:
            consumer_id = f"proc-{uuid.uuid4().hex[:8]}"
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
                "MURMUR_TEST_EXECUTIONS": str(executions.path),
                "MURMUR_TEST_DELAY_S": str(delay_s),
            }
            command = [
                sys.executable, "-c", "from murmur.cli import main; main()",
                "worker", "start", "--agents", "doubler", "--app", "_fleet_proc_app:agents",
                "--broker", broker_url, "--concurrency", str(concurrency),
                "--consumer-id", consumer_id, "--heartbeat-interval", "1", *extra,
            ]  # fmt: skip
            log = executions.path.with_name(f"{consumer_id}.log")
            fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *command, cwd=HERE, env=env, stdout=fd, stderr=asyncio.subprocess.STDOUT
                )
            finally:
                os.close(fd)
            procs.append(proc)

            def started() -> bool:
                if proc.returncode is not None:
                    output = log.read_text()[-2000:]
                    pytest.fail(f"worker {consumer_id} exited with {proc.returncode}: {output}")
                return any(
                    e.payload.get("consumer_id") == consumer_id
                    for e in fleet_events.of_type(EventType.WORKER_STARTED)
                )

            await _until(started, self.start_timeout_s, f"worker {consumer_id} to start")
            return proc

        yield start
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()

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
        await _until(lambda: len(executions.read()) >= 1, 30, "the doomed worker to take tasks")
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
            await _until(lambda: len(executions.read()) == 1, 30, "the genuine task")
            await raw.publish_task("doubler", frame(EnvelopeSigner("forger")))
            await raw.publish_task("doubler", frame(None))
            await raw.publish_task("doubler", genuine)  # the replay
            rejected = lambda: fleet_events.of_type(EventType.TASK_REJECTED)  # noqa: E731
            await _until(lambda: len(rejected()) == 3, 30, "3 rejections")
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
        await _until(lambda: len(rejected()) == 5, 30, "5 rejections")
        assert {e.payload["reason"] for e in rejected()} == {"bad_signature"}
        assert executions.read() == []

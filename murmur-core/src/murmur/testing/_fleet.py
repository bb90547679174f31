"""`BrokerBackendContract`: the backend contract on a worker fleet over a real broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar

import pytest

from murmur.agent import Agent
from murmur.events import CollectingEventEmitter, EventEmitter, EventType
from murmur.runtime import AgentRuntime, RuntimeOptions
from murmur.testing._backend_base import BackendContract, MakeRuntime, Probe
from murmur.testing.transport import next_delivery
from murmur.transport import (
    EnvelopeSigner,
    ResultEnvelope,
    TaskEnvelope,
    Transport,
    encode_frame,
    resolve_transport,
)
from murmur.transport._signing import SigningKeys
from murmur.types import TaskSpec
from murmur.worker import BrokerEventBridge, Worker

__all__ = ["BrokerBackendContract", "Fleet"]


class Fleet:
    """Workers, runtimes and raw transports on one broker URL, all closed by `aclose`."""

    def __init__(self, url: str, reclaim_min_idle_ms: int) -> None:
        self.url = url
        self.reclaim_min_idle_ms = reclaim_min_idle_ms
        self._workers: list[tuple[Worker, asyncio.Task[None]]] = []
        self._runtimes: list[AgentRuntime] = []
        self._transports: list[Transport] = []
        self.events: dict[str, CollectingEventEmitter] = {}
        """Each worker's local events, by consumer id."""

    async def worker(
        self,
        agents: Sequence[Agent[Any]],
        *,
        signing_key: SigningKeys = None,
        tools: dict[str, Callable[..., Any]] | None = None,
        concurrency: int = 16,
        reclaim_min_idle_ms: int | None = None,
        chained: bool = False,
        **options: Any,
    ) -> Worker:
        """A started in-process worker running `agents` (its events: `events[consumer_id]`).

        With `chained=True` its runtime is on the broker too: the runs its tasks spawn go
        to the fleet (a spawn tree across workers) instead of running in this worker.
        """
        events = CollectingEventEmitter()
        runtime = AgentRuntime(event_emitter=events, broker=self.url if chained else None)
        if chained:
            self._runtimes.append(runtime)
        for name, fn in (tools or {}).items():
            runtime.tools.register(name, fn)
        worker = Worker(
            self.url,
            {a.name: a for a in agents},
            concurrency=concurrency,
            signing_key=signing_key,
            reclaim_min_idle_ms=reclaim_min_idle_ms or self.reclaim_min_idle_ms,
            consumer_id=f"w-{uuid.uuid4().hex[:8]}",
            runtime=runtime,
            **options,
        )
        self.events[worker.consumer_id] = events
        task = asyncio.create_task(worker.start())
        self._workers.append((worker, task))
        done, _ = await asyncio.wait(
            [task, asyncio.create_task(worker.wait_ready())], return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            task.result()  # start() failed: raise its error
        return worker

    async def runtime(
        self,
        *,
        signing_key: SigningKeys = None,
        options: RuntimeOptions | None = None,
        emitter: EventEmitter | None = None,
    ) -> AgentRuntime:
        """A started caller runtime on the broker."""
        base = options or RuntimeOptions()
        if signing_key is not None:
            from dataclasses import replace

            base = replace(base, broker_signing_key=signing_key)
        runtime = AgentRuntime(
            base, broker=self.url, event_emitter=emitter or CollectingEventEmitter()
        )
        await runtime.start()
        self._runtimes.append(runtime)
        return runtime

    async def transport(self) -> Transport:
        """A raw connected transport on the broker."""
        transport = resolve_transport(self.url)
        await transport.connect()
        self._transports.append(transport)
        return transport

    async def stop_worker(self, worker: Worker) -> None:
        """Stop one worker gracefully."""
        for item in list(self._workers):
            if item[0] is worker:
                await worker.stop()
                await item[1]
                self._workers.remove(item)

    async def aclose(self) -> None:
        """Stop every worker, close every runtime and transport."""
        for runtime in self._runtimes:
            await _bounded(runtime.aclose(), "closing a runtime")
        for worker, task in self._workers:
            await _bounded(worker.stop(), f"stopping worker {worker.consumer_id}")
            await asyncio.gather(task, return_exceptions=True)
        for transport in self._transports:
            await _bounded(transport.close(), f"closing {transport!r}")


async def _bounded(step: Awaitable[None], what: str, within_s: float = 30.0) -> None:
    """Await a cleanup step; a hang fails the test with its name instead of timing it out."""
    try:
        await asyncio.wait_for(step, within_s)
    except TimeoutError:
        pytest.fail(f"{what} did not finish within {within_s:g}s")


async def eventually(check: Callable[[], bool], within_s: float, what: str = "condition") -> None:
    """Wait until `check()` is true (polling), or fail the test."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:g}s waiting for {what}")
        await asyncio.sleep(0.02)


def task_frame(agent: Agent[Any], signer: EnvelopeSigner | None, **fields: Any) -> bytes:
    """A hand-made task envelope for `agent` (signed when `signer` is given)."""
    body = TaskEnvelope(
        task_id=uuid.uuid4().hex,
        agent_name=agent.name,
        input=fields.pop("input", "crafted"),
        trace_id=uuid.uuid4().hex,
        reply_to=fields.pop("reply_to", "nobody"),
        **fields,
    ).body()
    return encode_frame(signer.sign(body) if signer is not None else body)


class BrokerBackendContract(BackendContract):
    """`BackendContract` on a fleet over `broker_url`, plus the broker-only guarantees."""

    reclaim_min_idle_ms: ClassVar[int] = 400
    quiet_s: ClassVar[float] = 0.5

    @pytest.fixture
    def broker_url(self) -> str:
        """Override: a broker URL with a namespace unique to the test."""
        raise NotImplementedError("provide a broker_url fixture")

    @pytest.fixture
    async def fleet(self, broker_url: str) -> AsyncIterator[Fleet]:
        """Workers and runtimes on the broker, stopped after the test."""
        fleet = Fleet(broker_url, self.reclaim_min_idle_ms)
        yield fleet
        await fleet.aclose()

    @pytest.fixture
    async def make_runtime(self, fleet: Fleet) -> MakeRuntime:
        """A worker running the agents, and a caller runtime on the broker."""

        async def make(
            agents: Sequence[Agent[Any]],
            *,
            tools: dict[str, Callable[..., Any]] | None = None,
            options: RuntimeOptions | None = None,
            emitter: EventEmitter | None = None,
        ) -> AgentRuntime:
            await fleet.worker(agents, tools=tools)
            return await fleet.runtime(options=options, emitter=emitter)

        return make

    # -- effectively once -------------------------------------------------------------

    async def test_duplicate_results_are_dropped(self, fleet: Fleet) -> None:
        """A second result for a task (a redelivered task run twice) never reaches the caller."""
        agent = Agent(name="dup", model="test")
        await fleet.worker([agent])
        runtime = await fleet.runtime()
        result = await runtime.run(agent, "x")
        assert result.is_ok(), result.error
        backend: Any = runtime.backend
        raw = await fleet.transport()
        again = ResultEnvelope(task_id=result.task_id, agent_name=agent.name, output="other")
        await raw.publish_result(backend.reply_to, encode_frame(again.body()))
        await eventually(lambda: backend.stats["duplicates"] == 1, self.settle_s, "the drop")
        assert backend.stats["results"] == 1

    async def test_the_same_task_id_runs_once(self, fleet: Fleet) -> None:
        """Two concurrent runs of one task id share one execution (the idempotency key)."""
        probe = Probe(delay=0.2)
        agent = Agent(name="idem", model=probe.model())
        await fleet.worker([agent])
        runtime = await fleet.runtime()
        task = TaskSpec(input="once")
        first, second = await runtime.gather(agent, [task, task])
        assert (first.output, second.output) == ("echo:once", "echo:once")
        assert probe.calls == 1

    async def test_competing_workers_run_each_task_once(self, fleet: Fleet) -> None:
        """Two workers on one queue: every task runs exactly once, results in order."""
        probe = Probe(delay=0.01)
        agent = Agent(name="shared", model=probe.model())
        one = await fleet.worker([agent], concurrency=4)
        two = await fleet.worker([agent], concurrency=4)
        runtime = await fleet.runtime()
        results = await runtime.gather(agent, [f"q{i}" for i in range(20)])
        assert [f"echo:q{i}" for i in range(20)] == [r.output for r in results]
        assert probe.calls == 20
        # A worker counts a task once the broker took its result, which may be after the
        # caller already has it (NATS waits for the caller's receipt).
        done = lambda: one.stats.completed + two.stats.completed  # noqa: E731
        await eventually(lambda: done() == 20, self.settle_s, "both workers to count 20")

    async def test_abandoned_task_is_reclaimed_and_completes_once(self, fleet: Fleet) -> None:
        """A task taken by a consumer that died is run by a live worker after the window."""
        probe = Probe()
        agent = Agent(name="orphaned", model=probe.model())
        raw = await fleet.transport()
        crashed = await raw.consume_tasks(
            agent.name,
            consumer_id="crashed",
            prefetch=1,
            reclaim_min_idle_ms=self.reclaim_min_idle_ms,
        )
        runtime = await fleet.runtime()
        pending = asyncio.create_task(runtime.run(agent, "orphan"))
        taken = await next_delivery(crashed, self.settle_s)
        assert len(taken) == 1  # ... and never acked: the consumer "died"
        worker = await fleet.worker([agent])
        result = await asyncio.wait_for(pending, self.settle_s)
        assert result.output == "echo:orphan"
        assert probe.calls == 1
        assert worker.stats.reclaimed + worker.stats.redelivered >= 1

    async def test_a_task_handed_back_to_the_worker_running_it_runs_once(
        self, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A task the broker hands back to the worker running it runs once.

        The worker's touches stop while its task runs (as when a tool blocks its event loop
        past the reclaim window), so the broker hands the task out again: Redis to a reclaim,
        NATS after its ack wait, RabbitMQ and Kafka once the consumer gives back what it
        holds. With this worker alone on the queue it comes back to it; the caller gets one
        result.
        """

        async def touches_nothing(worker: Worker) -> None:
            await asyncio.Event().wait()

        monkeypatch.setattr(Worker, "_touch_loop", touches_nothing)
        window = self.reclaim_min_idle_ms / 1000
        probe = Probe(delay=window * 4)
        agent = Agent(name="handed-back", model=probe.model())
        worker = await fleet.worker([agent], concurrency=2)
        runtime = await fleet.runtime()
        result = await runtime.run(agent, "once")
        assert result.output == "echo:once", result.error
        await eventually(lambda: worker.stats.completed == 1, self.settle_s, "the count")
        await asyncio.sleep(window + self.quiet_s)  # a second run would have started by now
        assert probe.calls == 1, worker.stats
        backend: Any = runtime.backend
        assert backend.stats["results"] == 1

    async def test_cancelled_caller_cancels_the_running_task(self, fleet: Fleet) -> None:
        """When the caller's run is cancelled, the worker stops the task instead of running on."""
        probe = Probe(delay=30)
        agent = Agent(name="abandoned", model=probe.model())
        worker = await fleet.worker([agent])
        runtime = await fleet.runtime()
        pending = asyncio.create_task(runtime.run(agent, "slow"))
        await eventually(lambda: probe.calls == 1, self.settle_s, "the task to start")
        pending.cancel()
        await eventually(lambda: worker.stats.cancelled == 1, self.settle_s, "the cancel")
        assert worker.in_flight == 0

    async def test_timed_out_caller_leaves_no_work_running(self, fleet: Fleet) -> None:
        """When the caller times out, the task's deadline stops it on the worker too."""
        probe = Probe(delay=30)
        agent = Agent(name="deadline", model=probe.model())
        worker = await fleet.worker([agent])
        runtime = await fleet.runtime(options=RuntimeOptions(timeout_seconds=0.5))
        result = await runtime.run(agent, "slow")
        assert (result.error.code if result.error else None) == "timeout"
        await eventually(lambda: worker.in_flight == 0, self.settle_s, "the task to stop")
        assert worker.stats.cancelled + worker.stats.failed == 1

    async def test_expired_task_is_dropped_unexecuted(self, fleet: Fleet) -> None:
        """A task whose deadline passed while queued is never executed."""
        probe = Probe()
        agent = Agent(name="late", model=probe.model())
        worker = await fleet.worker([agent])
        raw = await fleet.transport()
        await raw.publish_task(agent.name, task_frame(agent, None, deadline=time.time() - 1))
        await eventually(lambda: worker.stats.expired == 1, self.settle_s, "the drop")
        assert probe.calls == 0

    async def test_stop_lets_in_flight_tasks_finish(self, fleet: Fleet) -> None:
        """A graceful stop finishes the running task and delivers its result."""
        probe = Probe(delay=0.5)
        agent = Agent(name="graceful", model=probe.model())
        worker = await fleet.worker([agent])
        runtime = await fleet.runtime()
        pending = asyncio.create_task(runtime.run(agent, "finish me"))
        await eventually(lambda: probe.calls == 1, self.settle_s, "the task to start")
        await fleet.stop_worker(worker)
        result = await asyncio.wait_for(pending, self.settle_s)
        assert result.output == "echo:finish me"
        assert worker.stats.completed == 1

    async def test_a_stopping_worker_keeps_its_long_task_until_it_finishes(
        self, fleet: Fleet
    ) -> None:
        """A worker stopped while a task outlives the reclaim window keeps touching it.

        The other worker on the queue never receives it, and the caller gets one result.
        """
        from pydantic_ai.messages import ModelResponse, TextPart
        from pydantic_ai.models.function import FunctionModel

        window = self.reclaim_min_idle_ms / 1000
        prompts: list[str] = []

        async def respond(messages: list[Any], info: Any) -> ModelResponse:
            prompt = str(messages[-1].parts[-1].content)
            prompts.append(prompt)
            if prompt == "long":
                await asyncio.sleep(window * 4)
            return ModelResponse(parts=[TextPart(f"echo:{prompt}")])

        agent = Agent(name="draining", model=FunctionModel(respond))
        one = await fleet.worker([agent], concurrency=1)
        two = await fleet.worker([agent], concurrency=1)
        runtime = await fleet.runtime()
        # Both workers serve before the long task (a Kafka group has settled its partitions:
        # a rebalance mid-task would move the task for another reason than the stop).
        deadline = time.monotonic() + self.settle_s
        while not (one.stats.completed and two.stats.completed):
            if time.monotonic() > deadline:
                pytest.fail("both workers did not serve a warm-up task")
            await runtime.gather(agent, [f"warm-{i}" for i in range(4)])
        pending = asyncio.create_task(runtime.run(agent, "long"))
        await eventually(lambda: "long" in prompts, self.settle_s, "the long task to start")
        holder, other = (one, two) if one.in_flight else (two, one)
        received = other.stats.received
        await fleet.stop_worker(holder)  # returns once the task finished
        result = await asyncio.wait_for(pending, self.settle_s)
        assert result.output == "echo:long"
        await asyncio.sleep(window + self.quiet_s)  # a redelivery would show by now
        assert (prompts.count("long"), other.stats.received) == (1, received)

    async def test_worker_lifecycle_events_reach_the_publisher(self, fleet: Fleet) -> None:
        """WORKER_STARTED and heartbeats are relayed to a BrokerEventBridge subscriber."""
        collected = CollectingEventEmitter()
        bridge = BrokerEventBridge(await fleet.transport())
        await bridge.forward_to(collected)
        try:
            agent = Agent(name="beating", model="test")
            worker = await fleet.worker([agent], heartbeat_interval=0.1)
            await eventually(
                lambda: len(collected.of_type(EventType.WORKER_HEARTBEAT)) >= 2,
                self.settle_s,
                "heartbeats",
            )
            started = collected.of_type(EventType.WORKER_STARTED)
            assert [worker.consumer_id] == [e.payload["consumer_id"] for e in started]
        finally:
            await bridge.aclose()

    # -- signing ----------------------------------------------------------------------

    async def _rejects(
        self, fleet: Fleet, frame: Callable[[Agent[Any]], bytes], reason: str, **options: Any
    ) -> None:
        probe = Probe()
        agent = Agent(name=f"guarded-{reason}", model=probe.model())
        worker = await fleet.worker([agent], signing_key="s3cret", **options)
        raw = await fleet.transport()
        await raw.publish_task(agent.name, frame(agent))
        await eventually(lambda: worker.stats.rejected == 1, self.settle_s, "the rejection")
        await asyncio.sleep(self.quiet_s)
        assert {reason: 1} == worker.stats.rejected_reasons
        assert probe.calls == 0
        rejected = fleet.events[worker.consumer_id].of_type(EventType.TASK_REJECTED)
        assert [reason] == [e.payload["reason"] for e in rejected]

    async def test_forged_envelope_is_rejected(self, fleet: Fleet) -> None:
        """An envelope signed with another key is refused and never executed."""
        await self._rejects(
            fleet, lambda a: task_frame(a, EnvelopeSigner("not-the-key")), "bad_signature"
        )

    async def test_unsigned_envelope_is_rejected(self, fleet: Fleet) -> None:
        """An unsigned envelope is refused by a worker with a key."""
        await self._rejects(fleet, lambda a: task_frame(a, None), "unsigned")

    async def test_tampered_envelope_is_rejected(self, fleet: Fleet) -> None:
        """Changing the input of a signed envelope breaks its signature."""

        def tampered(agent: Agent[Any]) -> bytes:
            return task_frame(agent, EnvelopeSigner("s3cret")).replace(b"crafted", b"CRAFTED")

        await self._rejects(fleet, tampered, "bad_signature")

    async def test_stale_envelope_is_rejected(self, fleet: Fleet) -> None:
        """A correctly signed envelope older than the replay window is refused."""
        await self._rejects(
            fleet,
            lambda a: task_frame(a, EnvelopeSigner("s3cret"), timestamp=time.time() - 120),
            "stale",
            max_envelope_age_s=60,
        )

    async def test_replayed_envelope_is_rejected(self, fleet: Fleet) -> None:
        """Publishing a signed envelope again (a replay) does not run it again."""
        probe = Probe()
        agent = Agent(name="replayed", model=probe.model())
        worker = await fleet.worker([agent], signing_key="s3cret")
        raw = await fleet.transport()
        frame = task_frame(agent, EnvelopeSigner("s3cret"))
        await raw.publish_task(agent.name, frame)
        await eventually(lambda: worker.stats.completed == 1, self.settle_s, "the first run")
        await raw.publish_task(agent.name, frame)
        await eventually(lambda: worker.stats.rejected == 1, self.settle_s, "the rejection")
        assert worker.stats.rejected_reasons == {"replayed": 1}
        assert probe.calls == 1

    async def test_signed_fleet_runs_signed_tasks(self, fleet: Fleet) -> None:
        """With the same key on both sides (rotation: [new, old] vs [old, new]) runs succeed."""
        agent = Agent(name="signed", model="test")
        await fleet.worker([agent], signing_key=["new", "old"])
        runtime = await fleet.runtime(signing_key=["old", "new"])
        results = await runtime.gather(agent, ["a", "b", "c"])
        assert [r.is_ok() for r in results] == [True, True, True]

    async def test_worker_with_the_wrong_key_rejects_everything(self, fleet: Fleet) -> None:
        """Every task signed with another key is refused; nothing runs."""
        probe = Probe()
        agent = Agent(name="wrongkey", model=probe.model())
        worker = await fleet.worker([agent], signing_key="worker-key")
        runtime = await fleet.runtime(
            signing_key="caller-key", options=RuntimeOptions(timeout_seconds=1.0)
        )
        results = await runtime.gather(agent, ["a", "b", "c"])
        assert [r.error.code if r.error else None for r in results] == ["timeout"] * 3
        await eventually(lambda: worker.stats.rejected == 3, self.settle_s, "3 rejections")
        assert worker.stats.rejected_reasons == {"bad_signature": 3}
        assert probe.calls == 0

    # -- limits across broker hops ----------------------------------------------------

    async def _spawn_chain(
        self, fleet: Fleet, chain: Sequence[str], options: RuntimeOptions
    ) -> tuple[Any, list[tuple[str, int]], list[str], Probe]:
        """Run `chain[0]`, each agent spawning the next through a tool, every level on a worker.

        Each worker's runtime sends its children to the fleet. Returns the top result, the (agent,
        depth) of each spawning run, the error codes spawns were refused with, and the probe of the
        leaf agent.
        """
        from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
        from pydantic_ai.models.function import FunctionModel

        from murmur.execution import current_context

        spawned: list[tuple[str, int]] = []
        refused: list[str] = []
        leaf = Probe()
        agents: dict[str, Agent[Any]] = {}

        def spawner(child: str) -> Any:
            def respond(messages: list[Any], info: Any) -> Any:
                returns = [
                    p
                    for m in messages
                    for p in getattr(m, "parts", [])
                    if getattr(p, "part_kind", None) == "tool-return"
                ]
                if returns:
                    return ModelResponse(parts=[TextPart(f"done:{returns[-1].content}")])
                return ModelResponse(parts=[ToolCallPart("spawn", {"name": child})])

            return FunctionModel(respond)

        names = list(chain)
        for index, name in enumerate(names):
            if name in agents:
                continue
            nxt = names[index + 1] if index + 1 < len(names) else None
            model = spawner(nxt) if nxt is not None else leaf.model()
            tools = ["spawn"] if nxt is not None else []
            agents[name] = Agent(name=name, model=model, tools=tools)
        worker = await fleet.worker(list(agents.values()), chained=True, concurrency=8)

        async def spawn(name: str) -> str:
            ctx = current_context()
            assert ctx is not None
            spawned.append((ctx.agent.name, ctx.depth))
            result = await worker.runtime.run(agents[name], TaskSpec(input=f"from {name}"))
            if result.error is not None:
                refused.append(result.error.code)
                return f"refused:{result.error.code}"
            return str(result.output)

        worker.runtime.tools.register("spawn", spawn)
        runtime = await fleet.runtime(options=options)
        result = await runtime.run(agents[names[0]], "go")
        return result, spawned, refused, leaf

    async def test_spawn_depth_holds_across_broker_hops(self, fleet: Fleet) -> None:
        """A three-level chain, every level on a worker: the caller's max_spawn_depth holds there.

        The depth does not restart at 0 on a worker, so the third level is refused.
        """
        result, spawned, refused, leaf = await self._spawn_chain(
            fleet, ["lvl0", "lvl1", "lvl2"], RuntimeOptions(max_spawn_depth=1)
        )
        assert result.is_ok(), result.error
        assert spawned == [("lvl0", 0), ("lvl1", 1)]
        assert refused == ["depth_limit"]
        assert leaf.calls == 0

    async def test_spawn_depth_allows_the_whole_chain_within_the_limit(self, fleet: Fleet) -> None:
        """The same chain under max_spawn_depth=2 runs all three levels, at depths 0, 1, 2."""
        result, spawned, refused, leaf = await self._spawn_chain(
            fleet, ["deep0", "deep1", "deep2"], RuntimeOptions(max_spawn_depth=2)
        )
        assert result.is_ok(), result.error
        assert spawned == [("deep0", 0), ("deep1", 1)]
        assert (refused, leaf.calls) == ([], 1)
        assert result.output == "done:done:echo:from deep2"

    async def test_spawn_cycles_are_caught_across_broker_hops(self, fleet: Fleet) -> None:
        """A spawn cycle a -> b -> a, each on a worker, is refused.

        The ancestors travel in the envelope, so the worker refuses re-entering `a`.
        """
        result, spawned, refused, _ = await self._spawn_chain(
            fleet, ["cyc_a", "cyc_b", "cyc_a"], RuntimeOptions()
        )
        assert result.is_ok(), result.error
        assert spawned == [("cyc_a", 0), ("cyc_b", 1)]
        assert refused == ["spawn_cycle"]

    async def test_spawn_cap_holds_across_broker_hops(self, fleet: Fleet) -> None:
        """The caller's max_total_spawns=2 allows the first two levels and refuses the third.

        The caller's cap holds though the worker's own runtime has no cap.
        """
        result, spawned, refused, leaf = await self._spawn_chain(
            fleet, ["cap0", "cap1", "cap2"], RuntimeOptions(max_total_spawns=2)
        )
        assert result.is_ok(), result.error
        assert spawned == [("cap0", 0), ("cap1", 1)]
        assert (refused, leaf.calls) == (["spawn_cap"], 0)

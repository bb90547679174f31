"""The hostile-queue contract: a worker whose queue anyone can write garbage to.

Whatever bytes land on an agent's queue, a worker holding a signing key rejects every
frame it cannot decode or verify, counts it (`stats.rejected`, `stats.rejected_reasons`),
reports it (`TASK_REJECTED`), acks it, never executes it, and goes on serving valid tasks;
nothing is left pending to be redelivered. Garbage on the fleet event channel and on a
caller's reply channel is dropped without stopping the loops that read them. Subclass
`HostileQueueContract` and provide `broker_url` (a namespace unique to the test):

```python
class TestRedisHostileQueue(HostileQueueContract):
    @pytest.fixture
    def broker_url(self):
        return f"redis://127.0.0.1:6379/0?namespace=test-{uuid.uuid4().hex}"
```

The fuzz test draws batches of garbage with hypothesis (`max_examples` batches of up to
`max_batch` frames, derandomized so CI sees the same frames every run).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from typing import Any, ClassVar

import pytest

from murmur.agent import Agent
from murmur.backends import JobBackend
from murmur.events import CollectingEventEmitter, EventType, RuntimeEvent
from murmur.runtime import AgentRuntime
from murmur.testing._backend_base import Probe
from murmur.testing._fleet import Fleet, eventually
from murmur.testing._garbage import garbage_frames, poison_frames, spoiled
from murmur.testing.transport import next_delivery
from murmur.transport import EnvelopeSigner, Transport, encode_frame, new_nonce
from murmur.types import TaskSpec
from murmur.worker import BrokerEventBridge, Worker

__all__ = ["Bed", "HostileQueueContract", "garbage_frames", "poison_frames", "spoiled"]


class Bed:
    """One signed worker on a fresh queue, a signed caller, and a raw publisher."""

    def __init__(self, fleet: Fleet, worker: Worker, agent: Agent[Any], probe: Probe) -> None:
        self.fleet = fleet
        self.worker = worker
        self.agent = agent
        self.probe = probe
        self.valid_runs = 0
        self.garbage = 0
        self._raw_transport: Transport | None = None
        self._caller: AgentRuntime | None = None

    @classmethod
    async def open(cls, url: str, contract: HostileQueueContract) -> Bed:
        """A fleet on `url` with one worker serving a fresh probe agent."""
        fleet = Fleet(url, contract.reclaim_min_idle_ms)
        probe = Probe()
        agent = Agent(name=f"hostile-{uuid.uuid4().hex[:8]}", model=probe.model())
        worker = await fleet.worker([agent], signing_key=contract.signing_key, concurrency=8)
        return cls(fleet, worker, agent, probe)

    def rejected_events(self) -> list[RuntimeEvent]:
        """The `TASK_REJECTED` events the worker reported."""
        return self.fleet.events[self.worker.consumer_id].of_type(EventType.TASK_REJECTED)

    async def throw(self, frames: list[bytes], contract: HostileQueueContract) -> None:
        """Publish `frames`; each is rejected and none runs; then a valid task still runs."""
        raw = await self.raw()
        before = self.worker.stats.rejected
        for frame in frames:
            await raw.publish_task(self.agent.name, frame)
        self.garbage += len(frames)
        await eventually(
            lambda: self.worker.stats.rejected >= before + len(frames),
            contract.settle_s,
            f"{len(frames)} garbage frames to be rejected: "
            + ", ".join(repr(f[:60]) for f in frames),
        )
        await self.run_valid(contract)
        assert self.garbage == self.worker.stats.rejected, self.worker.stats
        assert self.valid_runs == self.probe.calls, "a garbage frame was executed"

    async def run_valid(self, contract: HostileQueueContract) -> None:
        """Run one valid task through the caller; it returns its echo."""
        runtime = await self.caller(contract)
        self.valid_runs += 1
        result = await runtime.run(self.agent, TaskSpec(input=f"valid-{self.valid_runs}"))
        assert f"echo:valid-{self.valid_runs}" == result.output, result.error

    async def drained(self, contract: HostileQueueContract) -> None:
        """Past a reclaim window nothing was delivered again and every rejection was reported.

        Once the worker stops, nothing is left on the queue for anyone else.
        """
        counted = self.worker.stats.rejected
        await asyncio.sleep(contract.reclaim_min_idle_ms / 1000 * 1.5 + contract.quiet_s)
        stats = self.worker.stats
        assert (counted, 0, 0) == (stats.rejected, stats.redelivered, stats.reclaimed), stats
        assert self.garbage == sum(stats.rejected_reasons.values()), stats
        assert self.garbage == len(self.rejected_events()), self.rejected_events()
        await self.fleet.stop_worker(self.worker)
        raw = await self.raw()
        inspector = await raw.consume_tasks(
            self.agent.name,
            consumer_id=f"inspector-{uuid.uuid4().hex[:8]}",
            prefetch=16,
            reclaim_min_idle_ms=contract.reclaim_min_idle_ms,
        )
        try:
            window = contract.reclaim_min_idle_ms / 1000
            left = await next_delivery(inspector, window * 2 + contract.quiet_s)
            assert [d.data[:80] for d in left] == [], "garbage was left on the queue"
        finally:
            await inspector.close()

    async def raw(self) -> Transport:
        """A raw connected transport on the broker (made once)."""
        if self._raw_transport is None:
            self._raw_transport = await self.fleet.transport()
        return self._raw_transport

    async def caller(self, contract: HostileQueueContract) -> AgentRuntime:
        """A signed caller runtime on the broker (made once)."""
        if self._caller is None:
            self._caller = await self.fleet.runtime(signing_key=contract.signing_key)
        return self._caller

    async def caller_backend(self, contract: HostileQueueContract) -> JobBackend:
        """The caller runtime's `JobBackend` (its reply channel and counters)."""
        backend = (await self.caller(contract)).backend
        assert isinstance(backend, JobBackend), backend
        return backend


class HostileQueueContract:
    """Garbage on every channel a worker or caller reads. Provide the `broker_url` fixture."""

    signing_key: ClassVar[str] = "hostile-fleet-key"
    reclaim_min_idle_ms: ClassVar[int] = 1500
    """Short enough that a redelivery loop shows within the test, long enough that a loaded
    machine never reclaims a delivery the worker is still rejecting."""

    settle_s: ClassVar[float] = 30.0
    """How long to wait for something that must happen (a rejection, a result)."""

    quiet_s: ClassVar[float] = 1.0
    """How long to watch for something that must NOT happen."""

    max_examples: ClassVar[int] = 60
    """Batches hypothesis draws (each followed by one valid task)."""

    max_batch: ClassVar[int] = 6

    @pytest.fixture
    def broker_url(self) -> str:
        """The broker URL, with a namespace unique to this test. Override this."""
        raise NotImplementedError("provide a broker_url fixture returning a broker URL")

    async def test_poison_messages_are_rejected_once_and_never_redelivered(
        self, broker_url: str
    ) -> None:
        """Each kind of hostile frame is rejected once, acked, and the worker serves on.

        The kinds: non-ASCII signatures, 100,000-deep nesting, lone surrogates, invalid UTF-8,
        empty bodies, NaN timestamps.
        """
        bed = await Bed.open(broker_url, self)
        try:
            frames = poison_frames(bed.agent.name, EnvelopeSigner(self.signing_key))
            await bed.throw(list(frames.values()), self)
            await bed.drained(self)
            reasons = bed.worker.stats.rejected_reasons
            assert reasons == {"malformed": 7, "bad_signature": 1}, reasons
        finally:
            await bed.fleet.aclose()

    def test_generated_garbage_is_rejected_counted_and_never_run(self, broker_url: str) -> None:
        """Hypothesis-drawn garbage is rejected frame by frame and nothing of it runs.

        The garbage: random bytes, deep nesting, surrogates, huge strings, wrong types in every
        envelope field; signed, unsigned, wrongly signed. Valid tasks keep running, and nothing is
        left.
        """
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st

        with asyncio.Runner() as runner:
            bed = runner.run(Bed.open(broker_url, self))
            try:
                frames = garbage_frames(bed.agent.name, EnvelopeSigner(self.signing_key))

                @settings(
                    max_examples=self.max_examples,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.generate],  # shrinking would replay on a dirty queue
                    suppress_health_check=list(HealthCheck),
                )
                @given(st.lists(frames, min_size=1, max_size=self.max_batch))
                def throw(batch: list[bytes]) -> None:
                    runner.run(bed.throw(batch, self))

                throw()
                runner.run(bed.drained(self))
                stats = bed.worker.stats
                print(  # the size of the run, for the test log (pytest -s)
                    f"\nhostile queue: {stats.rejected} garbage frames rejected "
                    f"{dict(sorted(stats.rejected_reasons.items()))}, {bed.valid_runs} valid "
                    "tasks run, nothing redelivered",
                    file=sys.stderr,
                )
            finally:
                runner.run(bed.fleet.aclose())

    async def test_garbage_on_the_event_channel_leaves_cancels_and_relays_working(
        self, broker_url: str
    ) -> None:
        """Garbage broadcast on the fleet channel stops neither signed cancels nor event relays.

        The worker still honours a signed cancel published after it, and a publisher's event bridge
        still relays events.
        """
        bed = await Bed.open(broker_url, self)
        slow = Probe(delay=60)
        agent = Agent(name=f"slow-{uuid.uuid4().hex[:8]}", model=slow.model())
        worker = await bed.fleet.worker([agent], signing_key=self.signing_key)
        signer = EnvelopeSigner(self.signing_key)
        collected = CollectingEventEmitter()
        bridge = BrokerEventBridge(await bed.fleet.transport(), signing_key=self.signing_key)
        await bridge.forward_to(collected)
        try:
            runtime = await bed.caller(self)
            task = TaskSpec(input="cancel me")
            pending = asyncio.create_task(runtime.run(agent, task))
            await eventually(lambda: slow.calls == 1, self.settle_s, "the slow task to start")
            raw = await bed.raw()
            marker = RuntimeEvent(event_type=EventType.WORKER_HEARTBEAT, payload={"m": 1})
            event = {
                "kind": "event",
                "event": marker.model_dump(mode="json"),
                "timestamp": time.time(),
                "nonce": new_nonce(),
            }
            cancel = {
                "kind": "cancel",
                "task_id": task.id,
                "agent_name": agent.name,
                "reply_to": (await bed.caller_backend(self)).reply_to,
                "timestamp": time.time(),
                "nonce": new_nonce(),
            }
            garbage = [*poison_frames(agent.name, signer).values()]
            garbage += spoiled(cancel, signer) + spoiled(event, signer)
            for frame in garbage:
                await raw.publish_event(frame)
            await raw.publish_event(encode_frame(signer.sign(event)))
            await raw.publish_event(encode_frame(signer.sign(cancel)))
            await eventually(lambda: worker.stats.cancelled == 1, self.settle_s, "the cancel")
            await eventually(
                lambda: any(e.payload == {"m": 1} for e in collected.events),
                self.settle_s,
                "the event published after the garbage",
            )
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        finally:
            await bridge.aclose()
            await bed.fleet.aclose()

    async def test_garbage_on_a_reply_channel_is_dropped_and_results_still_arrive(
        self, broker_url: str
    ) -> None:
        """Garbage published to a caller's reply channel is counted as rejected and dropped.

        The caller's runs still get their results.
        """
        bed = await Bed.open(broker_url, self)
        try:
            await bed.run_valid(self)
            backend = await bed.caller_backend(self)
            signer = EnvelopeSigner(self.signing_key)
            result = {"kind": "result", "task_id": "t", "agent_name": bed.agent.name}
            frames = [*poison_frames(bed.agent.name, signer).values(), *spoiled(result, signer)]
            before = backend.stats["rejected"]
            raw = await bed.raw()
            for frame in frames:
                await raw.publish_result(backend.reply_to, frame)
            await eventually(
                lambda: backend.stats["rejected"] == before + len(frames),
                self.settle_s,
                "the garbage results to be dropped",
            )
            await bed.run_valid(self)
        finally:
            await bed.fleet.aclose()

"""The distributed path in one process: JobBackend + Worker over memory:// pass the same
backend contract as the in-process AsyncBackend, plus the fleet guarantees."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing.backend import BrokerBackendContract, LocalBackendContract


class TestAsyncBackend(LocalBackendContract):
    """The in-process backend passes the backend contract."""


class TestMemoryFleet(BrokerBackendContract):
    """A fleet on memory:// passes the backend contract and the fleet guarantees."""

    @pytest.fixture
    def broker_url(self) -> str:
        """An in-process hub unique to the test."""
        return f"memory://fleet-{uuid.uuid4().hex}"


# -- the Worker's own surface -------------------------------------------------------------

import asyncio  # noqa: E402
from typing import Any  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from murmur import Agent, AgentRuntime, RegistryError, TaskSpec  # noqa: E402
from murmur.events import CollectingEventEmitter, EventType  # noqa: E402
from murmur.testing.backend import Probe  # noqa: E402
from murmur.worker import Worker  # noqa: E402


async def _serving(worker: Worker) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.start())
    await worker.wait_ready()
    return task


async def test_lifecycle_hooks_see_each_task() -> None:
    """on_task_start / on_task_complete / on_task_error receive the task id, agent and timing."""
    url = f"memory://hooks-{uuid.uuid4().hex}"
    good = Agent(name="good", model="test")
    bad = Agent(name="bad", model=Probe(fail=True).model())
    worker = Worker(url, {"good": good, "bad": bad}, event_emitter=CollectingEventEmitter())
    seen: list[tuple[Any, ...]] = []

    @worker.on_task_start
    def started(task_id: str, agent_name: str) -> None:
        seen.append(("start", task_id, agent_name))

    @worker.on_task_complete
    async def completed(task_id: str, agent_name: str, duration_ms: int) -> None:
        seen.append(("complete", task_id, agent_name, type(duration_ms)))

    @worker.on_task_error
    async def failed(task_id: str, agent_name: str, error: Exception) -> None:
        seen.append(("error", task_id, agent_name, type(error).__name__))

    serving = await _serving(worker)
    async with AgentRuntime(broker=url, event_emitter=CollectingEventEmitter()) as runtime:
        ok = await runtime.run(good, TaskSpec(input="x", id="t-good"))
        ko = await runtime.run(bad, TaskSpec(input="x", id="t-bad"))
    await worker.stop()
    await serving
    assert ok.is_ok()
    assert not ko.is_ok()
    assert [
        ("start", "t-good", "good"),
        ("complete", "t-good", "good", int),
        ("start", "t-bad", "bad"),
        ("error", "t-bad", "bad", "SpawnError"),
    ] == seen
    assert (worker.stats.completed, worker.stats.failed) == (1, 1)


async def test_worker_emits_started_heartbeat_and_stopped_events() -> None:
    """A worker announces itself, beats on its timer (saying its interval, so a watcher
    knows when it is late), and says when it stopped."""
    events = CollectingEventEmitter()
    worker = Worker(
        f"memory://beat-{uuid.uuid4().hex}",
        [Agent(name="a", model="test")],
        heartbeat_interval=0.05,
        consumer_id="beater",
        event_emitter=events,
    )
    serving = await _serving(worker)
    await asyncio.sleep(0.3)
    await worker.stop()
    await serving
    types = events.types()
    assert types[0] == EventType.WORKER_STARTED
    assert types[-1] == EventType.WORKER_STOPPED
    beats = events.of_type(EventType.WORKER_HEARTBEAT)
    assert len(beats) >= 3
    assert {"beater"} == {e.payload["consumer_id"] for e in beats}
    assert {0.05} == {e.payload["heartbeat_interval"] for e in events.events}


def test_worker_refuses_bad_configuration() -> None:
    """Misnamed agents, no agents and non-broker URLs are typed errors that say what to do."""
    agent = Agent(name="real", model="test")
    with pytest.raises(RegistryError, match="register it under its own name"):
        Worker("memory://", {"alias": agent})
    with pytest.raises(RegistryError, match="at least one agent"):
        Worker("memory://", {})
    with pytest.raises(RegistryError, match='no backend for "nosuch://x"'):
        Worker("nosuch://x", [agent])


def test_worker_default_consumer_id_is_host_and_pid() -> None:
    """Without consumer_id the id is <hostname>-<pid>, stable for the process."""
    import os
    import socket

    worker = Worker("memory://", [Agent(name="a", model="test")])
    assert f"{socket.gethostname()}-{os.getpid()}" == worker.consumer_id


def test_cli_names_the_agents_it_could_not_find(tmp_path: Any, monkeypatch: Any) -> None:
    """`murmur worker start` with unknown agents fails naming them and what is available."""
    from murmur.cli import cli

    (tmp_path / "myagents.py").write_text(
        "from murmur import Agent\nagents = [Agent(name='researcher', model='test')]\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(
        cli,
        ["worker", "start", "--agents", "researcher,writer,editor", "--broker", "memory://",
         "--app", "myagents:agents"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "agent(s) not found: writer, editor" in result.output
    assert "available: researcher" in result.output


def test_cli_needs_somewhere_to_find_agents() -> None:
    """Without --app or --specs the command says where agents can come from."""
    from murmur.cli import cli

    result = CliRunner().invoke(cli, ["worker", "start", "-a", "x", "-b", "memory://"])
    assert result.exit_code == 1
    assert "--app module:attr and/or --specs DIR" in result.output


def test_cli_loads_agents_and_runtime_from_app(tmp_path: Any, monkeypatch: Any) -> None:
    """--app may name an AgentRuntime: its registered agents (and tools) are used."""
    from murmur.cli.worker import load_app_agents

    (tmp_path / "rtapp.py").write_text(
        "from murmur import Agent, AgentRuntime\n"
        "runtime = AgentRuntime()\n"
        "runtime.register(Agent(name='writer', model='test'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    agents, runtime = load_app_agents("rtapp:runtime")
    assert list(agents) == ["writer"]
    assert isinstance(runtime, AgentRuntime)


def test_cli_loads_agents_from_a_spec_directory(tmp_path: Any) -> None:
    """--specs finds agents in YAML specs."""
    from murmur.cli import cli

    (tmp_path / "r.yaml").write_text("version: 1\nname: researcher\nmodel: test\n")
    result = CliRunner().invoke(
        cli,
        ["worker", "start", "-a", "researcher,ghost", "-b", "memory://", "--specs", str(tmp_path)],
    )
    assert "agent(s) not found: ghost" in result.output
    assert "available: researcher" in result.output


async def test_a_worker_serving_several_agents_serves_each_of_them() -> None:
    """A worker consuming two queues runs tasks from both (one queue cannot starve another)."""
    url = f"memory://multi-{uuid.uuid4().hex}"
    busy = Agent(name="busy", model=Probe(delay=0.05).model())
    quick = Agent(name="quick", model="test")
    worker = Worker(url, [busy, quick], concurrency=2, event_emitter=CollectingEventEmitter())
    serving = await _serving(worker)
    async with AgentRuntime(broker=url, event_emitter=CollectingEventEmitter()) as runtime:
        backlog = asyncio.create_task(runtime.gather(busy, [f"b{i}" for i in range(10)]))
        first = await asyncio.wait_for(runtime.run(quick, "now"), 15)
        second = await asyncio.wait_for(runtime.run(quick, "again"), 15)
        assert [first.is_ok(), second.is_ok()] == [True, True]
        assert all(r.is_ok() for r in await backlog)
    await worker.stop()
    await serving


async def test_fleet_events_reach_a_runtime_that_asks_for_them() -> None:
    """A backend built with fleet_events=True re-emits worker heartbeats on its runtime."""
    from murmur.backends import memory_backend_factory

    url = f"memory://fleet-events-{uuid.uuid4().hex}"
    events = CollectingEventEmitter()
    runtime = AgentRuntime(
        broker=memory_backend_factory(url, fleet_events=True), event_emitter=events
    )
    await runtime.start()
    worker = Worker(url, [Agent(name="a", model="test")], heartbeat_interval=0.05)
    serving = await _serving(worker)
    for _ in range(100):
        if events.of_type(EventType.WORKER_HEARTBEAT):
            break
        await asyncio.sleep(0.02)
    await worker.stop()
    await serving
    await runtime.aclose()
    assert events.of_type(EventType.WORKER_HEARTBEAT)


async def test_a_stopped_worker_can_start_again_and_plugins_hear_about_it() -> None:
    """start/stop/start works, and murmur_worker_started/stopped hooks run each time."""
    from murmur.hookspecs import hookimpl
    from murmur.plugins import PluginHost

    calls: list[str] = []

    class Spy:
        @hookimpl
        def murmur_worker_started(self, worker: Any) -> None:
            calls.append("started")

        @hookimpl
        def murmur_worker_stopped(self, worker: Any) -> None:
            calls.append("stopped")

    url = f"memory://restart-{uuid.uuid4().hex}"
    agent = Agent(name="again", model="test")
    worker = Worker(
        url,
        [agent],
        plugins=PluginHost(extra_plugins=[Spy()]),
        event_emitter=CollectingEventEmitter(),
    )
    for _ in range(2):
        serving = await _serving(worker)
        async with AgentRuntime(broker=url, event_emitter=CollectingEventEmitter()) as runtime:
            assert (await runtime.run(agent, "x")).is_ok()
        await worker.stop()
        await serving
    assert calls == ["started", "stopped", "started", "stopped"]


async def test_a_worker_that_cannot_connect_raises_a_typed_error_and_announces_nothing() -> None:
    """A transport that fails to connect with a bare OSError: start() raises the typed,
    transient broker_unavailable error naming the broker (password redacted), and no
    WORKER_STARTED / WORKER_STOPPED is emitted for a worker that never served."""
    from murmur.core.errors import SpawnError
    from murmur.transport import MemoryTransport

    class Refusing(MemoryTransport):
        async def connect(self) -> None:
            raise ConnectionRefusedError(111, "Connection refused")

    events = CollectingEventEmitter()
    transport = Refusing(f"memory://user:hunter2@refusing-{uuid.uuid4().hex}")
    worker = Worker(transport, [Agent(name="a", model="test")], event_emitter=events)
    with pytest.raises(SpawnError) as caught:
        await worker.start()
    assert caught.value.code == "broker_unavailable"
    assert "cannot reach the broker at memory://user:***@refusing-" in str(caught.value)
    assert "hunter2" not in str(caught.value)
    assert events.types() == []


async def test_a_lost_fleet_event_channel_is_subscribed_again() -> None:
    """The worker's cancel channel fails (a broker connection lost): it subscribes again,
    so a caller's cancel request still stops a running task."""
    from murmur.transport import MemoryTransport, Subscription

    class Lost(Subscription):
        async def __anext__(self) -> bytes:
            raise ConnectionError("the event channel was lost")

        async def aclose(self) -> None:
            return None

    class Flaky(MemoryTransport):
        subscriptions = 0

        async def subscribe_events(self) -> Subscription:
            Flaky.subscriptions += 1
            if Flaky.subscriptions == 1:
                return Lost()
            return await super().subscribe_events()

    started = asyncio.Event()

    async def slow(messages: list[Any], info: Any) -> Any:
        from pydantic_ai.messages import ModelResponse, TextPart

        started.set()
        await asyncio.sleep(60)
        return ModelResponse(parts=[TextPart("late")])

    from pydantic_ai.models.function import FunctionModel

    sleeper = Agent(name="sleeper", model=FunctionModel(slow))
    url = f"memory://lost-events-{uuid.uuid4().hex}"
    worker = Worker(Flaky(url), [sleeper], event_emitter=CollectingEventEmitter())
    serving = await _serving(worker)
    caller = AgentRuntime(broker=url, event_emitter=CollectingEventEmitter())
    try:
        for _ in range(100):  # the control loop subscribes again within a poll interval
            if Flaky.subscriptions >= 2:
                break
            await asyncio.sleep(0.05)
        assert Flaky.subscriptions >= 2
        run = asyncio.create_task(caller.run(Agent(name="sleeper", model="test"), "go"))
        await asyncio.wait_for(started.wait(), 10)
        run.cancel()  # the caller gives up: a cancel request goes over the event channel
        for _ in range(200):
            if worker.stats.cancelled:
                break
            await asyncio.sleep(0.05)
        assert worker.stats.cancelled == 1
    finally:
        await caller.aclose()
        await worker.stop()
        await serving


async def test_a_task_has_left_in_flight_when_it_is_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`worker.stats` counts a task only once it is no longer in `worker.in_flight`, however
    slowly the broker takes the acknowledgement: completed and failed tasks (seen from their
    hooks, which run before the acknowledgement) and a task its caller cancelled."""
    from murmur.testing._fleet import eventually

    url = f"memory://counted-{uuid.uuid4().hex}"
    slow = Probe(delay=30)
    agents = {
        "good": Agent(name="good", model="test"),
        "bad": Agent(name="bad", model=Probe(fail=True).model()),
        "slow": Agent(name="slow", model=slow.model()),
    }
    worker = Worker(url, agents, event_emitter=CollectingEventEmitter())
    settle = worker._settle

    async def slow_ack(consumer: Any, delivery: Any) -> None:  # a broker slow to take acks
        await asyncio.sleep(0.3)
        await settle(consumer, delivery)

    monkeypatch.setattr(worker, "_settle", slow_ack)
    seen: list[tuple[str, int, int]] = []

    @worker.on_task_complete
    def completed(task_id: str, agent_name: str, duration_ms: int) -> None:
        seen.append(("complete", worker.stats.completed, worker.in_flight))

    @worker.on_task_error
    def failed(task_id: str, agent_name: str, error: Exception) -> None:
        seen.append(("error", worker.stats.failed, worker.in_flight))

    serving = await _serving(worker)
    try:
        runtime = AgentRuntime(broker=url, event_emitter=CollectingEventEmitter())
        assert (await runtime.run(agents["good"], "x")).is_ok()
        assert not (await runtime.run(agents["bad"], "x")).is_ok()
        assert seen == [("complete", 1, 0), ("error", 1, 0)]

        pending = asyncio.create_task(runtime.run(agents["slow"], "x"))
        await eventually(lambda: slow.calls == 1, 10, "the slow task to start")
        pending.cancel()
        await eventually(lambda: worker.stats.cancelled == 1, 10, "the cancel")
        assert worker.in_flight == 0
        await runtime.aclose()
    finally:
        await worker.stop()
        await serving


async def test_a_task_handed_back_to_the_worker_running_it_runs_once() -> None:
    """The broker hands a worker back a message it is still running (its touch came after
    the reclaim window): the task runs once, its result reaches the caller once, and the
    newer delivery is the one touched and acknowledged."""
    from murmur.testing._fleet import eventually
    from murmur.transport import Delivery, MemoryTransport, TaskConsumer

    acked: list[int] = []
    touched: list[int] = []

    class HandsBack(TaskConsumer):
        """Receives as the memory broker does; hands the first delivery back once more."""

        def __init__(self, inner: TaskConsumer) -> None:
            self.inner = inner
            self.first: Delivery | None = None
            self.handed_back = False

        async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
            if self.first is not None and not self.handed_back:
                await eventually(lambda: probe.calls == 1, 10, "the first delivery to run")
                self.handed_back = True
                first = self.first
                return [Delivery(first.data, first.message_id, first.agent_name, 2, first.handle)]
            deliveries = await self.inner.receive(max_messages, timeout)
            if deliveries and self.first is None:
                self.first = deliveries[0]
            return deliveries

        async def ack(self, delivery: Delivery) -> None:
            acked.append(delivery.delivery_count)
            await self.inner.ack(delivery)

        async def nack(self, delivery: Delivery) -> None:
            await self.inner.nack(delivery)

        async def touch(self, delivery: Delivery) -> None:
            touched.append(delivery.delivery_count)

    class Broker(MemoryTransport):
        async def consume_tasks(self, agent_name: str, **options: Any) -> TaskConsumer:
            return HandsBack(await super().consume_tasks(agent_name, **options))

    probe = Probe(delay=0.6)
    agent = Agent(name="once", model=probe.model())
    url = f"memory://handed-back-{uuid.uuid4().hex}"
    worker = Worker(
        Broker(url),
        [agent],
        concurrency=2,
        reclaim_min_idle_ms=300,
        event_emitter=CollectingEventEmitter(),
    )
    serving = await _serving(worker)
    caller = AgentRuntime(broker=url, event_emitter=CollectingEventEmitter())
    try:
        result = await caller.run(agent, "x")
        assert result.is_ok(), result.error
        await eventually(lambda: worker.stats.completed == 1, 10, "the worker to count it")
        assert probe.calls == 1
        assert worker.stats.duplicates == 1
        assert worker.stats.received == 2
        await eventually(lambda: acked == [2], 10, "the newer delivery's ack")
        assert 2 in touched
        backend: Any = caller.backend
        assert backend.stats["duplicates"] == 0
        assert worker.in_flight == 0
    finally:
        await caller.aclose()
        await worker.stop()
        await serving


async def test_a_task_handed_out_again_after_its_ack_is_acknowledged_not_run() -> None:
    """A delivery the broker handed out before the worker's ack reached it (a reclaim
    crossing the ack) arrives after the task is done: acknowledged again, not run."""
    from murmur.testing._fleet import eventually
    from murmur.transport import Delivery, MemoryTransport, TaskConsumer

    acked: list[int] = []

    class Stale(TaskConsumer):
        """Receives as the memory broker does; after the first ack, hands that delivery out
        once more."""

        def __init__(self, inner: TaskConsumer) -> None:
            self.inner = inner
            self.stale: Delivery | None = None

        async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
            if self.stale is not None:
                stale, self.stale = self.stale, None
                return [stale]
            return await self.inner.receive(max_messages, timeout)

        async def ack(self, delivery: Delivery) -> None:
            if not acked:
                self.stale = Delivery(
                    delivery.data, delivery.message_id, delivery.agent_name, 2, delivery.handle
                )
            acked.append(delivery.delivery_count)
            await self.inner.ack(delivery)

        async def nack(self, delivery: Delivery) -> None:
            await self.inner.nack(delivery)

    class Broker(MemoryTransport):
        async def consume_tasks(self, agent_name: str, **options: Any) -> TaskConsumer:
            return Stale(await super().consume_tasks(agent_name, **options))

    probe = Probe()
    agent = Agent(name="done", model=probe.model())
    url = f"memory://stale-{uuid.uuid4().hex}"
    worker = Worker(Broker(url), [agent], concurrency=2, event_emitter=CollectingEventEmitter())
    serving = await _serving(worker)
    caller = AgentRuntime(broker=url, event_emitter=CollectingEventEmitter())
    try:
        assert (await caller.run(agent, "x")).is_ok()
        await eventually(lambda: acked == [1, 2], 10, "the stale delivery's ack")
        assert probe.calls == 1
        assert (worker.stats.received, worker.stats.duplicates) == (2, 1)
    finally:
        await caller.aclose()
        await worker.stop()
        await serving

"""A real fleet on Redis: `murmur worker start` processes serving a caller in this process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from murmur import Agent, AgentRuntime, RuntimeOptions, TaskSpec
from murmur.backends import JobBackend
from murmur.events import CollectingEventEmitter, EventType
from murmur.testing import require_service
from murmur.transport import EnvelopeSigner, TaskEnvelope, encode_frame, resolve_transport
from murmur.worker import BrokerEventBridge

pytestmark = pytest.mark.services

HOST, PORT = "127.0.0.1", 6379
HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from fleet_app import Doubled, Number  # noqa: E402

# The caller's view of the agent: same name and types; the model runs on the workers.
doubler = Agent(name="doubler", model="test", input_type=Number, output_type=Doubled)


def _redis():
    import redis

    return redis.Redis(host=HOST, port=PORT, db=0)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace unique to the test; its keys are deleted afterwards."""
    require_service("Redis", HOST, PORT)
    ns = f"test-{uuid.uuid4().hex}"
    yield ns
    client = _redis()
    keys = list(client.scan_iter(match=f"{ns}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def broker_url(namespace: str) -> str:
    """The test's Redis URL."""
    return f"redis://{HOST}:{PORT}/0?namespace={namespace}"


StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(broker_url: str, namespace: str) -> Iterator[StartWorker]:
    """Start `murmur worker start` processes; every one is stopped after the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        consumer_id: str, *extra: str, delay_s: float = 0.01, concurrency: int = 20
    ) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "MURMUR_TEST_NAMESPACE": namespace,
            "MURMUR_TEST_DELAY_S": str(delay_s),
        }
        command = [
            sys.executable, "-c", "from murmur.cli import main; main()",
            "worker", "start", "--agents", "doubler", "--app", "fleet_app:agents",
            "--broker", broker_url, "--concurrency", str(concurrency),
            "--consumer-id", consumer_id, "--heartbeat-interval", "0.5", *extra,
        ]  # fmt: skip
        proc = subprocess.Popen(
            command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        procs.append(proc)
        _wait_for_heartbeat(namespace, consumer_id, proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_for_heartbeat(namespace: str, consumer_id: str, proc: subprocess.Popen[bytes]) -> None:
    client = _redis()
    try:
        deadline = time.monotonic() + 60
        while client.get(f"{namespace}:workers:{consumer_id}") is None:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"worker {consumer_id} exited with {proc.returncode}: {err[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker {consumer_id} did not start within 60s")
            time.sleep(0.1)
    finally:
        client.close()


def _executed(namespace: str) -> int:
    client = _redis()
    try:
        return int(client.get(f"{namespace}:executed") or 0)
    finally:
        client.close()


@pytest.fixture
async def caller(broker_url: str) -> AsyncIterator[Callable[..., AgentRuntime]]:
    """Caller runtimes on the broker, closed after the test."""
    made: list[AgentRuntime] = []

    def make(options: RuntimeOptions | None = None) -> AgentRuntime:
        runtime = AgentRuntime(
            options,
            broker=broker_url,
            event_emitter=CollectingEventEmitter(),
        )
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        await runtime.aclose()


async def test_two_worker_processes_serve_a_200_task_gather_in_order(
    start_worker: StartWorker, caller: Callable[..., AgentRuntime], namespace: str
) -> None:
    """200 tasks over 2 worker processes: 200 typed, correct results, in task order."""
    start_worker("proc-a")
    start_worker("proc-b")
    runtime = caller()
    tasks = [TaskSpec(input=Number(n=i)) for i in range(200)]
    results = await runtime.gather(doubler, tasks, max_concurrency=50)
    assert [r.is_ok() for r in results] == [True] * 200, [r.error for r in results][:3]
    outputs = [r.output for r in results]
    assert all(isinstance(o, Doubled) for o in outputs)
    assert [(i, 2 * i) for i in range(200)] == [(o.n, o.doubled) for o in outputs]
    assert len({o.pid for o in outputs}) == 2
    assert _executed(namespace) == 200


async def test_a_worker_killed_mid_task_loses_nothing(
    start_worker: StartWorker, caller: Callable[..., AgentRuntime], namespace: str
) -> None:
    """SIGKILL a worker holding tasks: each still completes exactly once for the caller."""
    window = ["--reclaim-min-idle-ms", "1000"]
    doomed = start_worker("doomed", *window, delay_s=1.5, concurrency=4)
    runtime = caller()
    tasks = [TaskSpec(input=Number(n=i)) for i in range(12)]
    gathering = asyncio.create_task(runtime.gather(doubler, tasks, max_concurrency=12))
    client = _redis()
    try:
        stream = f"{namespace}:tasks:doubler"
        deadline = time.monotonic() + 30
        while not client.xpending(stream, "workers")["pending"]:
            assert time.monotonic() < deadline, "the doomed worker never took a task"
            await asyncio.sleep(0.05)
    finally:
        client.close()
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    start_worker("survivor", *window, delay_s=0.05)
    results = await asyncio.wait_for(gathering, 60)
    assert [(i, 2 * i) for i in range(12)] == [(r.output.n, r.output.doubled) for r in results]
    backend = runtime.backend
    assert isinstance(backend, JobBackend)
    assert backend.stats["results"] == 12
    assert _executed(namespace) >= 12  # the killed worker's tasks ran again elsewhere


async def _rejections(broker_url: str) -> tuple[BrokerEventBridge, CollectingEventEmitter]:
    transport = resolve_transport(broker_url)
    await transport.connect()
    seen = CollectingEventEmitter()
    bridge = BrokerEventBridge(transport)
    await bridge.forward_to(seen)
    return bridge, seen


async def _until(check: Callable[[], bool], within_s: float = 20) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_forged_unsigned_and_replayed_envelopes_are_never_executed(
    start_worker: StartWorker, broker_url: str, namespace: str
) -> None:
    """A signed worker process refuses forged, unsigned and replayed envelopes."""
    bridge, seen = await _rejections(broker_url)
    try:
        start_worker("guard", "--signing-key", "fleet-key")
        raw = bridge.transport

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
        await _until(lambda: _executed(namespace) == 1)
        await raw.publish_task("doubler", frame(EnvelopeSigner("forger")))
        await raw.publish_task("doubler", frame(None))
        await raw.publish_task("doubler", genuine)  # the replay
        await _until(lambda: len(seen.of_type(EventType.TASK_REJECTED)) == 3)
        reasons = sorted(e.payload["reason"] for e in seen.of_type(EventType.TASK_REJECTED))
        assert reasons == ["bad_signature", "replayed", "unsigned"]
        await asyncio.sleep(0.5)
        assert _executed(namespace) == 1
    finally:
        await bridge.aclose()
        await bridge.transport.close()


async def test_a_worker_with_the_wrong_key_rejects_everything(
    start_worker: StartWorker, caller: Callable[..., AgentRuntime], broker_url: str, namespace: str
) -> None:
    """Every task from a caller with another key is refused by the worker process."""
    bridge, seen = await _rejections(broker_url)
    try:
        start_worker("wrong", "--signing-key", "worker-key")
        runtime = caller(RuntimeOptions(broker_signing_key="caller-key", timeout_seconds=2.0))
        results = await runtime.gather(doubler, [Number(n=i) for i in range(5)])
        assert [r.error.code if r.error else None for r in results] == ["timeout"] * 5
        await _until(lambda: len(seen.of_type(EventType.TASK_REJECTED)) == 5)
        assert _executed(namespace) == 0
    finally:
        await bridge.aclose()
        await bridge.transport.close()

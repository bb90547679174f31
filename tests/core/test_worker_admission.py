"""What a worker does with each delivery it cannot simply run: garbage, a broker that fails
the nonce claim, a crash of its own, an output that cannot travel."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from murmur import Agent, AgentRuntime, RuntimeOptions
from murmur.events import CollectingEventEmitter
from murmur.testing.backend import Probe
from murmur.testing.hostile import poison_frames
from murmur.testing.transport import next_delivery
from murmur.transport import EnvelopeSigner, MemoryTransport, TaskEnvelope, decode_frame
from murmur.worker import Worker
from murmur.worker._support import result_frame

KEY = "admission-key"

_json_ish = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256) | st.text().map(str.encode))
def test_decode_frame_answers_a_dict_or_none_for_any_bytes(data: bytes) -> None:
    """decode_frame never raises, whatever the bytes."""
    assert decode_frame(data) is None or isinstance(decode_frame(data), dict)


def test_decode_frame_refuses_what_no_encoder_can_write_back() -> None:
    """Deep nesting, UTF-8-encoded and escaped lone surrogates are None; pairs are fine."""
    assert decode_frame(b"[" * 100_000 + b"]" * 100_000) is None
    assert decode_frame(b'{"a":"\xed\xa0\x80"}') is None
    assert decode_frame(b'{"a":"\\ud800"}') is None
    assert decode_frame(b'{"a":"\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), _json_ish, max_size=5), _json_ish)
def test_verify_answers_a_reason_or_none_for_any_frame(body: dict[str, Any], sig: Any) -> None:
    """EnvelopeSigner.verify never raises: surrogates, non-ASCII or non-str signatures."""
    signer = EnvelopeSigner(KEY)
    assert signer.verify({**body, "signature": sig}) in (
        None,
        "unsigned",
        "bad_signature",
        "malformed",
    )


def test_verify_names_the_shapes_it_refuses() -> None:
    """Non-ASCII signature: bad_signature; no canonical form: malformed; not a dict: malformed."""
    signer = EnvelopeSigner(KEY)
    frame = signer.sign({"kind": "task", "task_id": "t"})
    assert signer.verify(frame) is None
    assert signer.verify({**frame, "signature": "é" * 64}) == "bad_signature"
    assert signer.verify({**frame, "input": "\ud800"}) == "malformed"
    assert signer.verify(["not", "a", "dict"]) == "malformed"


async def _serving(worker: Worker) -> asyncio.Task[None]:
    task = asyncio.create_task(worker.start())
    await worker.wait_ready()
    return task


async def _until(check: Any, what: str, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:g}s waiting for {what}")
        await asyncio.sleep(0.01)


class FlakyNonces(MemoryTransport):
    """A memory transport whose nonce store fails `failures` times before it answers."""

    failures = 0

    async def claim_nonce(self, nonce: str, message_id: str, *, ttl_s: float) -> bool:
        if FlakyNonces.failures > 0:
            FlakyNonces.failures -= 1
            raise ConnectionError("nonce store unreachable")
        return await super().claim_nonce(nonce, message_id, ttl_s=ttl_s)


async def test_a_failing_nonce_claim_is_retried_not_a_rejection() -> None:
    """A broker error while claiming the nonce: the worker holds the task and retries;
    the valid task runs once and nothing is rejected."""
    url = f"memory://flaky-{uuid.uuid4().hex}"
    probe = Probe()
    agent = Agent(name="flaky", model=probe.model())
    FlakyNonces.failures = 3
    worker = Worker(
        FlakyNonces(url), [agent], signing_key=KEY, event_emitter=CollectingEventEmitter()
    )
    serving = await _serving(worker)
    options = RuntimeOptions(broker_signing_key=KEY)
    async with AgentRuntime(options, broker=url, event_emitter=CollectingEventEmitter()) as rt:
        result = await rt.run(agent, "x")
    await worker.stop()
    await serving
    assert result.output == "echo:x"
    assert (FlakyNonces.failures, probe.calls, worker.stats.rejected) == (0, 1, 0)


async def test_a_worker_stopping_while_the_nonce_store_fails_hands_the_task_back() -> None:
    """Still failing when the worker stops: the delivery is handed back, unrejected, and a
    healthy worker runs it."""
    url = f"memory://handback-{uuid.uuid4().hex}"
    probe = Probe()
    agent = Agent(name="handback", model=probe.model())
    FlakyNonces.failures = 10**9
    sick = Worker(
        FlakyNonces(url), [agent], signing_key=KEY, event_emitter=CollectingEventEmitter()
    )
    serving = await _serving(sick)
    options = RuntimeOptions(broker_signing_key=KEY)
    async with AgentRuntime(options, broker=url, event_emitter=CollectingEventEmitter()) as rt:
        pending = asyncio.create_task(rt.run(agent, "y"))
        await _until(lambda: sick.stats.received == 1, "the sick worker to take the task")
        await sick.stop()
        await serving
        FlakyNonces.failures = 0
        healthy = Worker(url, [agent], signing_key=KEY, event_emitter=CollectingEventEmitter())
        healthy_serving = await _serving(healthy)
        result = await asyncio.wait_for(pending, 15)
        await healthy.stop()
        await healthy_serving
    assert result.output == "echo:y"
    assert (sick.stats.rejected, probe.calls, healthy.stats.completed) == (0, 1, 1)


async def test_a_crash_of_the_worker_itself_is_a_typed_failure_not_a_redelivery() -> None:
    """The worker's own code raising while running a task: the caller gets a worker_error
    result, the delivery is acked, the task is not delivered again."""
    url = f"memory://crash-{uuid.uuid4().hex}"
    agent = Agent(name="crash", model="test")

    class Broken(AgentRuntime):
        async def execute_delivered(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    worker = Worker(
        url,
        [agent],
        runtime=Broken(event_emitter=CollectingEventEmitter()),
        reclaim_min_idle_ms=200,
    )
    serving = await _serving(worker)
    async with AgentRuntime(broker=url, event_emitter=CollectingEventEmitter()) as rt:
        result = await rt.run(agent, "x")
    await worker.stop()
    await serving
    assert result.error is not None
    assert result.error.code == "worker_error"
    assert "RuntimeError: boom" in str(result.error)
    assert (worker.stats.received, worker.stats.failed) == (1, 1)
    inspector = MemoryTransport(url)
    await inspector.connect()
    consumer = await inspector.consume_tasks(
        agent.name, consumer_id="inspector", prefetch=1, reclaim_min_idle_ms=200
    )
    assert await next_delivery(consumer, 1.0) == []  # acked: nothing left to redeliver


def test_an_output_that_cannot_be_sent_becomes_a_not_serializable_result() -> None:
    """A result frame whose output is not JSON carries a typed error instead of raising."""
    signer = EnvelopeSigner(KEY)
    envelope = TaskEnvelope(task_id="t", agent_name="a", trace_id="x", reply_to="r")
    frame = decode_frame(
        result_frame(envelope, {"x": object()}, None, {}, signer=signer, worker="w")
    )
    assert frame is not None
    assert signer.verify(frame) is None
    assert frame["error"]["code"] == "not_serializable"


async def test_an_unsigned_worker_still_rejects_what_it_cannot_decode() -> None:
    """Without a signing key nothing is verified, but what cannot be decoded or holds
    values no caller sends is still rejected as malformed and never run."""
    url = f"memory://nokey-{uuid.uuid4().hex}"
    probe = Probe()
    agent = Agent(name="nokey", model=probe.model())
    worker = Worker(url, [agent], event_emitter=CollectingEventEmitter())
    serving = await _serving(worker)
    frames = poison_frames(agent.name, EnvelopeSigner(KEY))
    # Without a key the correctly-shaped frames are just envelopes: these are the garbage.
    garbage = [
        frames["100,000 levels of nesting"],
        frames["lone surrogate in the input"],
        frames["invalid UTF-8"],
        frames["empty body"],
        frames["NaN timestamp, correctly signed"],
        frames["negative budget, correctly signed"],
    ]
    transport = MemoryTransport(url)
    await transport.connect()
    for frame in garbage:
        await transport.publish_task(agent.name, frame)
    await _until(lambda: worker.stats.rejected == len(garbage), "every frame rejected")
    await worker.stop()
    await serving
    assert {"malformed": len(garbage)} == worker.stats.rejected_reasons
    assert probe.calls == 0

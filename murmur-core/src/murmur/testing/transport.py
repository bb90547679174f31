"""The transport contract: what every broker `Transport` does, checked against a real server.

Subclass `TransportContract` and provide `transport_url`: a URL whose namespace is unique to
the test (so tests never see each other's queues). Everything else is inherited:

```python
import uuid
import pytest
from murmur.testing.transport import TransportContract


class TestRedisTransport(TransportContract):
    @pytest.fixture
    def transport_url(self):
        return f"redis://127.0.0.1:6379/0?namespace=test-{uuid.uuid4().hex}"
```

The suite builds transports with `make_transport(url)`, which resolves the URL through the
plugin host (the scheme's `murmur.backends` entry point); override `make_transport` to
build your transport directly. Class attributes tune it for slow brokers.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import ClassVar

import pytest

from murmur.transport import Delivery, TaskConsumer, Transport, resolve_transport

__all__ = ["TransportContract", "next_delivery"]

MakeTransport = Callable[[], Awaitable[Transport]]


async def next_delivery(
    consumer: TaskConsumer, within_s: float, *, max_messages: int = 1
) -> list[Delivery]:
    """Poll `receive` and `reclaim` until something arrives or `timeout` passes.

    A redelivery may come either way, depending on the broker.
    """
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        got = await consumer.receive(max_messages, 0.1)
        if got:
            return got
        got = await consumer.reclaim(max_messages)
        if got:
            return got
        await asyncio.sleep(0.02)
    return []


class TransportContract:
    """Behaviour every `Transport` must have. Provide the `transport_url` fixture."""

    reclaim_min_idle_ms: ClassVar[int] = 400
    """The reclaim window the suite uses (short, so the suite stays fast)."""

    settle_s: ClassVar[float] = 10.0
    """How long to wait for something that must arrive (a delivery, a redelivery)."""

    quiet_s: ClassVar[float] = 0.5
    """How long to watch for something that must NOT arrive."""

    event_rounds: ClassVar[int] = 400
    """Subscribe-then-publish rounds (four at a time) that must each deliver their event."""

    fleet_wide_nonces: ClassVar[bool] = True
    """True when `claim_nonce` is shared by every transport on the broker (not per instance)."""

    @pytest.fixture
    def transport_url(self) -> str:
        """The broker URL, with a namespace unique to this test. Override this."""
        raise NotImplementedError("provide a transport_url fixture returning a broker URL")

    def build_transport(self, url: str) -> Transport:
        """A new, unconnected transport for `url` (default: through the plugin host)."""
        return resolve_transport(url)

    @pytest.fixture
    async def make_transport(self, transport_url: str) -> AsyncIterator[MakeTransport]:
        """A factory of connected transports on `transport_url`, all closed after the test."""
        made: list[Transport] = []

        async def make() -> Transport:
            transport = self.build_transport(transport_url)
            await asyncio.wait_for(transport.connect(), self.settle_s)
            made.append(transport)
            return transport

        yield make
        for transport in made:
            await asyncio.wait_for(transport.close(), self.settle_s)

    async def consumer(
        self, transport: Transport, agent: str, consumer_id: str | None = None, prefetch: int = 10
    ) -> TaskConsumer:
        """Join `agent`'s consumer group."""
        return await transport.consume_tasks(
            agent,
            consumer_id=consumer_id or f"c-{uuid.uuid4().hex[:8]}",
            prefetch=prefetch,
            reclaim_min_idle_ms=self.reclaim_min_idle_ms,
        )

    # -- tasks ------------------------------------------------------------------------

    async def test_published_task_is_received_intact_and_gone_once_acked(
        self, make_transport: MakeTransport
    ) -> None:
        """A published task reaches one consumer byte for byte, and an acked one never returns."""
        transport = await make_transport()
        consumer = await self.consumer(transport, "alpha")
        payload = '{"kind":"task","x":"é✓"}'.encode()
        await transport.publish_task("alpha", payload)
        got = await next_delivery(consumer, self.settle_s)
        assert [payload] == [d.data for d in got]
        assert got[0].agent_name == "alpha"
        await consumer.ack(got[0])
        await asyncio.sleep(self.reclaim_min_idle_ms / 1000 + 0.1)
        assert await next_delivery(consumer, self.quiet_s) == []

    async def test_task_published_before_any_consumer_is_delivered(
        self, make_transport: MakeTransport
    ) -> None:
        """A task published while no worker is listening waits for the first one."""
        publisher = await make_transport()
        await publisher.publish_task("early", b"first")
        worker = await make_transport()
        consumer = await self.consumer(worker, "early")
        got = await next_delivery(consumer, self.settle_s)
        assert [d.data for d in got] == [b"first"]
        await consumer.ack(got[0])

    async def test_receive_never_returns_more_than_asked(
        self, make_transport: MakeTransport
    ) -> None:
        """receive(max_messages=n) returns at most n deliveries."""
        transport = await make_transport()
        consumer = await self.consumer(transport, "batch")
        for i in range(5):
            await transport.publish_task("batch", f"m{i}".encode())
        seen: list[bytes] = []
        deadline = time.monotonic() + self.settle_s
        while len(seen) < 5 and time.monotonic() < deadline:
            got = await consumer.receive(2, 0.2)
            assert len(got) <= 2
            for delivery in got:
                seen.append(delivery.data)
                await consumer.ack(delivery)
        assert sorted(f"m{i}".encode() for i in range(5)) == sorted(seen)

    async def test_receive_returns_empty_after_timeout(self, make_transport: MakeTransport) -> None:
        """An idle queue gives an empty batch when the receive timeout passes."""
        transport = await make_transport()
        consumer = await self.consumer(transport, "idle")
        assert await consumer.receive(1, 0.2) == []

    async def test_queues_are_separate_per_agent(self, make_transport: MakeTransport) -> None:
        """A task for one agent never reaches another agent's consumers."""
        transport = await make_transport()
        other = await self.consumer(transport, "other")
        mine = await self.consumer(transport, "mine")
        await transport.publish_task("mine", b"for-mine")
        got = await next_delivery(mine, self.settle_s)
        assert [d.data for d in got] == [b"for-mine"]
        await mine.ack(got[0])
        assert await next_delivery(other, self.quiet_s) == []

    async def test_nacked_task_is_redelivered_with_the_same_message_id(
        self, make_transport: MakeTransport
    ) -> None:
        """A nacked delivery comes back, same message id, higher delivery count."""
        transport = await make_transport()
        consumer = await self.consumer(transport, "nack")
        await transport.publish_task("nack", b"again")
        first = (await next_delivery(consumer, self.settle_s))[0]
        await consumer.nack(first)
        second = await next_delivery(consumer, self.settle_s + self.reclaim_min_idle_ms / 1000)
        assert [d.data for d in second] == [b"again"]
        assert first.message_id == second[0].message_id
        assert second[0].delivery_count >= 2
        await consumer.ack(second[0])

    async def test_abandoned_delivery_is_reclaimed_by_another_consumer(
        self, make_transport: MakeTransport
    ) -> None:
        """A delivery its consumer never acks goes to a second consumer after the idle window."""
        dead = await make_transport()
        alive = await make_transport()
        crashed = await self.consumer(dead, "reclaim", "crashed")
        survivor = await self.consumer(alive, "reclaim", "survivor")
        await dead.publish_task("reclaim", b"orphan")
        taken = (await next_delivery(crashed, self.settle_s))[0]
        got = await next_delivery(survivor, self.settle_s + self.reclaim_min_idle_ms / 1000)
        assert [d.data for d in got] == [b"orphan"]
        assert taken.message_id == got[0].message_id
        assert got[0].delivery_count >= 2
        await survivor.ack(got[0])
        await asyncio.sleep(self.reclaim_min_idle_ms / 1000 + 0.1)
        assert await next_delivery(survivor, self.quiet_s) == []

    async def test_touched_delivery_is_not_reclaimed(self, make_transport: MakeTransport) -> None:
        """A consumer that keeps touching a long task keeps it: nobody else gets it."""
        owner_t = await make_transport()
        other_t = await make_transport()
        owner = await self.consumer(owner_t, "touch", "owner")
        other = await self.consumer(other_t, "touch", "other")
        await owner_t.publish_task("touch", b"long")
        held = (await next_delivery(owner, self.settle_s))[0]
        window = self.reclaim_min_idle_ms / 1000
        end = time.monotonic() + window * 2.5
        while time.monotonic() < end:
            await owner.touch(held)
            assert await other.reclaim(1) == []
            await asyncio.sleep(window / 4)
        await owner.ack(held)

    async def test_competing_consumers_each_get_distinct_tasks(
        self, make_transport: MakeTransport
    ) -> None:
        """Two consumers of one queue split the tasks: every task once, none twice."""
        a_t = await make_transport()
        b_t = await make_transport()
        a = await self.consumer(a_t, "compete", "a", prefetch=50)
        b = await self.consumer(b_t, "compete", "b", prefetch=50)
        sent = {f"t{i}".encode() for i in range(20)}
        for data in sorted(sent):
            await a_t.publish_task("compete", data)
        seen: dict[str, list[bytes]] = {"a": [], "b": []}

        async def drain(name: str, consumer: TaskConsumer) -> None:
            deadline = time.monotonic() + self.settle_s
            while sum(map(len, seen.values())) < len(sent) and time.monotonic() < deadline:
                for delivery in await consumer.receive(3, 0.1):
                    seen[name].append(delivery.data)
                    await consumer.ack(delivery)

        await asyncio.gather(drain("a", a), drain("b", b))
        everything = seen["a"] + seen["b"]
        assert sorted(sent) == sorted(everything)
        assert len(everything) == len(set(everything))

    # -- results and events -----------------------------------------------------------

    async def test_results_reach_their_subscriber_in_order(
        self, make_transport: MakeTransport
    ) -> None:
        """Frames published to a reply channel reach its subscriber, in order, and only it."""
        caller = await make_transport()
        worker = await make_transport()
        mine = await caller.subscribe_results("caller-1")
        other = await caller.subscribe_results("caller-2")
        frames = [f"r{i}".encode() for i in range(5)]
        for frame in frames:
            await worker.publish_result("caller-1", frame)
        got = [await asyncio.wait_for(anext(mine), self.settle_s) for _ in frames]
        assert frames == got
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(other), self.quiet_s)
        await mine.aclose()
        await other.aclose()

    async def test_events_reach_every_subscriber(self, make_transport: MakeTransport) -> None:
        """A fleet event is broadcast to every subscriber."""
        one = await make_transport()
        two = await make_transport()
        sub_one = await one.subscribe_events()
        sub_two = await two.subscribe_events()
        await one.publish_event(b"hello fleet")
        assert await asyncio.wait_for(anext(sub_one), self.settle_s) == b"hello fleet"
        assert await asyncio.wait_for(anext(sub_two), self.settle_s) == b"hello fleet"
        await sub_one.aclose()
        await sub_two.aclose()

    async def test_an_event_published_right_after_subscribing_reaches_the_new_subscriber(
        self, make_transport: MakeTransport
    ) -> None:
        """Once `subscribe_events` returns, the subscription sees every later event.

        Rounds on four pairs of connections at once, each subscribing anew and publishing
        from the other connection the moment the subscription returned: the window in which
        a broker may still miss a subscription it already confirmed (NATS 2.9 under load:
        about one round in 250 here) is the transport's to wait out before it returns.
        """

        async def rounds(lane: int) -> None:
            publisher, subscriber = await make_transport(), await make_transport()
            for step in range(self.event_rounds // 4):
                body = f"round {lane}-{step}".encode()
                subscription = await subscriber.subscribe_events()
                await publisher.publish_event(body)
                async with asyncio.timeout(self.settle_s):
                    while await anext(subscription) != body:  # other rounds' events: skip
                        pass
                await subscription.aclose()

        await asyncio.gather(*(rounds(lane) for lane in range(4)))

    async def test_closed_subscription_stops_iterating(self, make_transport: MakeTransport) -> None:
        """Closing a subscription ends its iteration."""
        transport = await make_transport()
        subscription = await transport.subscribe_results("closing")
        await subscription.aclose()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(subscription), self.settle_s)

    # -- replay refusal and lifecycle -------------------------------------------------

    async def test_a_nonce_is_accepted_again_only_for_the_same_message(
        self, make_transport: MakeTransport
    ) -> None:
        """A nonce seen in one message is refused in any other (a replay), not on redelivery."""
        first = await make_transport()
        nonce = uuid.uuid4().hex
        assert await first.claim_nonce(nonce, "m-1", ttl_s=60)
        assert await first.claim_nonce(nonce, "m-1", ttl_s=60)
        assert not await first.claim_nonce(nonce, "m-2", ttl_s=60)
        if self.fleet_wide_nonces:
            second = await make_transport()
            assert not await second.claim_nonce(nonce, "m-3", ttl_s=60)
            assert await second.claim_nonce(nonce, "m-1", ttl_s=60)

    async def test_heartbeat_is_accepted(self, make_transport: MakeTransport) -> None:
        """heartbeat() records liveness without error."""
        transport = await make_transport()
        await transport.heartbeat("worker-1", {"in_flight": 0}, ttl_s=5)

    async def test_connect_and_close_are_idempotent(self, transport_url: str) -> None:
        """connect() and close() may be called twice; async with works."""
        transport = self.build_transport(transport_url)
        await transport.connect()
        await transport.connect()
        await transport.close()
        await transport.close()
        async with self.build_transport(transport_url) as again:
            await again.publish_event(b"x")

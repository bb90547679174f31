"""`memory://`: an in-process broker, so the whole distributed path runs in one process.

Every `MemoryTransport` with the same URL host (`memory://fleet-a`; plain `memory://` is
the host `default`) and namespace shares one in-process hub: a FIFO queue per agent with a
pending list (for ack, nack and reclaim after the idle window), reply channels, and a fan-out
event channel. It behaves like a real broker for everything the contract suite checks,
including abandoned deliveries being reclaimed by a second consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from murmur.transport._base import (
    Delivery,
    QueueSubscription,
    Subscription,
    TaskConsumer,
    Transport,
)

__all__ = ["MemoryTransport"]


@dataclass(slots=True)
class _Pending:
    data: bytes
    message_id: str
    consumer: str
    last_seen: float
    count: int


@dataclass(slots=True)
class _Queue:
    ready: deque[tuple[bytes, str, int]] = field(default_factory=deque)
    pending: dict[str, _Pending] = field(default_factory=dict)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)

    def wake(self) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            if not waiter.done():
                with contextlib.suppress(RuntimeError):  # its event loop is gone
                    waiter.set_result(None)


@dataclass(slots=True)
class _Hub:
    queues: dict[str, _Queue] = field(default_factory=dict)
    replies: dict[str, list[QueueSubscription]] = field(default_factory=dict)
    events: dict[str, list[QueueSubscription]] = field(default_factory=dict)
    nonces: dict[str, tuple[str, float]] = field(default_factory=dict)
    heartbeats: dict[str, tuple[dict[str, Any], float]] = field(default_factory=dict)

    def queue(self, name: str) -> _Queue:
        found = self.queues.get(name)
        if found is None:
            found = self.queues[name] = _Queue()
        return found


_HUBS: dict[str, _Hub] = {}
_IDS = itertools.count(1)


def _hub_name(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc + parts.path).strip("/") or "default"


class _MemoryConsumer(TaskConsumer):
    def __init__(
        self, queue: _Queue, agent_name: str, consumer_id: str, reclaim_min_idle_ms: int
    ) -> None:
        self._queue = queue
        self._agent = agent_name
        self._consumer = consumer_id
        self._min_idle = reclaim_min_idle_ms / 1000
        self._closed = False

    def _take(self, max_messages: int) -> list[Delivery]:
        out: list[Delivery] = []
        queue = self._queue
        now = time.monotonic()
        while queue.ready and len(out) < max_messages:
            data, message_id, count = queue.ready.popleft()
            queue.pending[message_id] = _Pending(data, message_id, self._consumer, now, count)
            out.append(Delivery(data, message_id, self._agent, count, handle=message_id))
        return out

    async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
        if self._closed or max_messages < 1:
            return []
        got = self._take(max_messages)
        if got:
            return got
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            return []
        finally:
            if waiter in self._queue.waiters:
                self._queue.waiters.remove(waiter)
        return [] if self._closed else self._take(max_messages)

    def _owned(self, delivery: Delivery) -> _Pending | None:
        entry = self._queue.pending.get(delivery.message_id)
        return entry if entry is not None and entry.consumer == self._consumer else None

    async def ack(self, delivery: Delivery) -> None:
        if self._owned(delivery) is not None:
            del self._queue.pending[delivery.message_id]

    async def nack(self, delivery: Delivery) -> None:
        entry = self._owned(delivery)
        if entry is None:
            return
        del self._queue.pending[delivery.message_id]
        self._queue.ready.appendleft((entry.data, entry.message_id, entry.count + 1))
        self._queue.wake()

    async def reclaim(self, max_messages: int) -> list[Delivery]:
        if self._closed:
            return []
        now = time.monotonic()
        out: list[Delivery] = []
        for entry in list(self._queue.pending.values()):
            if len(out) >= max_messages:
                break
            if now - entry.last_seen >= self._min_idle:
                entry.consumer = self._consumer
                entry.last_seen = now
                entry.count += 1
                out.append(
                    Delivery(
                        entry.data, entry.message_id, self._agent, entry.count, entry.message_id
                    )
                )
        return out

    async def touch(self, delivery: Delivery) -> None:
        entry = self._owned(delivery)
        if entry is not None:
            entry.last_seen = time.monotonic()

    async def close(self) -> None:
        self._closed = True


class MemoryTransport(Transport):
    """The in-process transport behind `memory://`.

    Args:
        url: `memory://` or `memory://<hub>`; transports on the same hub and namespace
            share queues, as processes sharing a broker would.
        namespace: Prefix of queue names (URL query `?namespace=` works too).
    """

    scheme = "memory"

    def __init__(self, url: str = "memory://", *, namespace: str | None = None, **options: Any):
        super().__init__(url, namespace=namespace, **options)
        self._hub_name = _hub_name(url.split("?", 1)[0])
        self._hub: _Hub | None = None
        self._subscriptions: list[QueueSubscription] = []
        self._consumers: list[_MemoryConsumer] = []

    @property
    def hub(self) -> _Hub:
        """The shared in-process hub (connects lazily)."""
        if self._hub is None:
            self._hub = _HUBS.setdefault(self._hub_name, _Hub())
        return self._hub

    async def connect(self) -> None:
        _ = self.hub

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.close()
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        self._consumers.clear()
        self._subscriptions.clear()

    async def publish_task(self, agent_name: str, data: bytes) -> None:
        queue = self.hub.queue(self.name("tasks", agent_name))
        queue.ready.append((bytes(data), f"{next(_IDS)}-0", 1))
        queue.wake()

    async def consume_tasks(
        self, agent_name: str, *, consumer_id: str, prefetch: int, reclaim_min_idle_ms: int
    ) -> TaskConsumer:
        queue = self.hub.queue(self.name("tasks", agent_name))
        consumer = _MemoryConsumer(queue, agent_name, consumer_id, reclaim_min_idle_ms)
        self._consumers.append(consumer)
        return consumer

    def _subscribe(self, table: dict[str, list[QueueSubscription]], key: str) -> Subscription:
        subscribers = table.setdefault(key, [])

        async def remove() -> None:
            if subscription in subscribers:
                subscribers.remove(subscription)
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        subscription = QueueSubscription(on_close=remove)
        subscribers.append(subscription)
        self._subscriptions.append(subscription)
        return subscription

    async def publish_result(self, reply_to: str, data: bytes) -> None:
        for subscription in self.hub.replies.get(self.name("replies", reply_to), ()):
            subscription.put(bytes(data))

    async def subscribe_results(self, reply_to: str) -> Subscription:
        return self._subscribe(self.hub.replies, self.name("replies", reply_to))

    async def publish_event(self, data: bytes) -> None:
        for subscription in list(self.hub.events.get(self.name("events"), ())):
            subscription.put(bytes(data))

    async def subscribe_events(self) -> Subscription:
        return self._subscribe(self.hub.events, self.name("events"))

    async def heartbeat(self, consumer_id: str, info: dict[str, Any], ttl_s: float) -> None:
        self.hub.heartbeats[self.name("workers", consumer_id)] = (
            dict(info),
            time.time() + ttl_s,
        )

    async def claim_nonce(self, nonce: str, message_id: str, *, ttl_s: float) -> bool:
        """Fleet-wide within the hub: every transport on it shares one nonce table."""
        nonces = self.hub.nonces
        now = time.monotonic()
        if len(nonces) > 65536:
            self.hub.nonces = nonces = {k: v for k, v in nonces.items() if v[1] > now}
        key = self.name("nonce", nonce)
        seen = nonces.get(key)
        if seen is not None and seen[1] > now:
            return seen[0] == message_id
        nonces[key] = (message_id, now + ttl_s)
        return True

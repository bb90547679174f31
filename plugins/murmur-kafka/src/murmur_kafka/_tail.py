"""Reading reply and event partitions from their end, for every subscription of a transport.

One assign-only consumer (no group membership, no commits) per transport. A subscription
names a (topic, partition) and optionally a key: the reader assigns that partition at its
high watermark when the first subscription on it opens, so every record published after
`subscribe_*` returns is delivered, in partition order, to each matching subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import structlog

from murmur.transport import QueueSubscription

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

__all__ = ["TailReader"]

log = structlog.get_logger("murmur.kafka")

_OP_TIMEOUT = 10.0


class TailReader:
    """Fans records of assigned partitions out to `QueueSubscription`s.

    Args:
        config: librdkafka consumer configuration (bootstrap servers, a throwaway group.id).
        poll_s: Longest single poll on the reader thread.
    """

    def __init__(self, config: dict[str, Any], *, poll_s: float = 0.1) -> None:
        self._config = config
        self._poll_s = poll_s
        self._routes: dict[tuple[str, int], list[tuple[bytes | None, QueueSubscription]]] = {}
        self._lock = asyncio.Lock()
        self._consumer: Consumer | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pump: asyncio.Task[None] | None = None
        self._running = False

    async def _call(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.run_in_executor(self._executor, fn, *args), _OP_TIMEOUT)

    async def subscribe(self, topic: str, partition: int, key: bytes | None) -> QueueSubscription:
        """A subscription to records of `topic`/`partition` (only those with `key`, if given)."""
        from confluent_kafka import Consumer, TopicPartition

        async with self._lock:
            if self._consumer is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="murmur-kafka-tail")
                self._consumer = await self._call(Consumer, self._config)
                self._running = True
                self._pump = asyncio.create_task(self._pump_loop())
            consumer = self._consumer
            route = (topic, partition)

            async def remove() -> None:
                await self._remove(route, subscription)

            subscription = QueueSubscription(on_close=remove)
            if route not in self._routes:
                tp = TopicPartition(topic, partition)
                _, high = await self._call(consumer.get_watermark_offsets, tp, _OP_TIMEOUT)
                await self._call(
                    consumer.incremental_assign, [TopicPartition(topic, partition, high)]
                )
                self._routes[route] = []
            self._routes[route].append((key, subscription))
            return subscription

    async def _remove(self, route: tuple[str, int], subscription: QueueSubscription) -> None:
        from confluent_kafka import TopicPartition

        async with self._lock:
            entries = self._routes.get(route)
            if entries is None:
                return
            entries[:] = [e for e in entries if e[1] is not subscription]
            if not entries and self._consumer is not None:
                del self._routes[route]
                with contextlib.suppress(Exception):
                    await self._call(self._consumer.incremental_unassign, [TopicPartition(*route)])

    def _poll(self, consumer: Consumer) -> list[Message]:
        message = consumer.poll(self._poll_s)
        if message is None:
            return []
        return [message, *consumer.consume(500, 0)]

    async def _pump_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running:
            consumer = self._consumer
            if consumer is None:
                return
            try:
                messages = await loop.run_in_executor(self._executor, self._poll, consumer)
            except Exception as exc:
                if not self._running:
                    return
                log.warning("kafka reply/event poll failed", error=repr(exc))
                await asyncio.sleep(self._poll_s)
                continue
            for message in messages:
                if message.error() is not None:
                    continue
                entries = self._routes.get((message.topic() or "", message.partition() or 0))
                if not entries:
                    continue
                key, value = message.key(), message.value() or b""
                for wanted, subscription in entries:
                    if wanted is None or wanted == key:
                        subscription.put(value)

    async def aclose(self) -> None:
        """Close every subscription and the reader (idempotent)."""
        for entries in list(self._routes.values()):
            for _, subscription in list(entries):
                await subscription.aclose()
        self._running = False
        consumer, executor = self._consumer, self._executor
        self._consumer = self._executor = None
        if self._pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pump, self._poll_s * 10 + 5)
        if consumer is not None and executor is not None:
            loop = asyncio.get_running_loop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(loop.run_in_executor(executor, consumer.close), _OP_TIMEOUT)
            executor.shutdown(wait=False)

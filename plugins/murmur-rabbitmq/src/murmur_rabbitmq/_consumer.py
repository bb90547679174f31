"""One worker's view of an agent queue: a channel with `prefetch` QoS and a manual-ack consumer."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from murmur.transport import Delivery, HeldDeliveryConsumer

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

__all__ = ["RabbitConsumer"]

log = structlog.get_logger("murmur.rabbitmq")


def _int(value: object) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str | bytes):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


class RabbitConsumer(HeldDeliveryConsumer["AbstractIncomingMessage"]):
    """A consumer of one durable queue on its own channel.

    RabbitMQ pushes at most `prefetch` un-acked messages to the channel (`basic.qos`);
    they wait in a local buffer until `receive` hands them out. Acks are manual. When the
    channel or the connection dies (a SIGKILLed worker), RabbitMQ requeues every un-acked
    message of that channel for the other consumers: that is the broker's reclaim.

    A *live* consumer that holds a handed-out delivery for `reclaim_min_idle_ms` without
    ack or `touch` (a worker whose loop is stuck, or code that dropped a delivery) is
    treated the same way: it closes its channel, so RabbitMQ requeues what it held, and
    opens a new one on its next `receive`. RabbitMQ itself has no per-message ack timeout
    short enough for this (its `consumer_timeout` is checked about once a minute); the
    watchdog is murmur's `HeldDeliveryConsumer`.

    Args:
        connection: The transport's robust connection.
        queue_name: The durable queue.
        agent_name: The agent queue's name in murmur.
        consumer_id: The worker's stable id (the prefix of its consumer tags).
        prefetch: `basic.qos` prefetch count (the worker's concurrency).
        reclaim_min_idle_ms: How long a handed-out delivery may go without ack or touch.
        ensure_queue: Declares the queue (awaited before every consume).
        quorum: The queue is a quorum queue (delivery counts come from `x-delivery-count`).
    """

    def __init__(
        self,
        connection: AbstractRobustConnection,
        *,
        queue_name: str,
        agent_name: str,
        consumer_id: str,
        prefetch: int,
        reclaim_min_idle_ms: int,
        ensure_queue: Callable[[], Awaitable[None]],
        quorum: bool,
    ) -> None:
        super().__init__(reclaim_min_idle_ms=reclaim_min_idle_ms, name=queue_name)
        self._connection = connection
        self._queue_name = queue_name
        self._agent = agent_name
        self._consumer_id = consumer_id
        self._prefetch = max(1, prefetch)
        self._ensure_queue = ensure_queue
        self._quorum = quorum
        self._channel: AbstractChannel | None = None
        self._buffer: deque[AbstractIncomingMessage] = deque()
        self._open_lock = asyncio.Lock()

    give_up_message = "closing the channel so RabbitMQ requeues it"

    async def open(self) -> None:
        """Open a channel with QoS `prefetch` and start consuming (idempotent)."""
        async with self._open_lock:
            if self._channel is not None and not self._channel.is_closed:
                return
            await self._ensure_queue()
            channel = await self._connection.channel(publisher_confirms=False)
            await channel.set_qos(prefetch_count=self._prefetch)
            queue = await channel.get_queue(self._queue_name, ensure=True)
            # The worker's stable id as consumer tag (seen in `rabbitmqctl list_consumers`).
            tag = f"{self._consumer_id}-{uuid.uuid4().hex[:8]}"
            await queue.consume(self._on_message, no_ack=False, consumer_tag=tag)
            self._channel = channel
            self._start_watch()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._closed:
            return  # the channel closes soon: RabbitMQ requeues it
        self._buffer.append(message)
        self._arrived.set()

    def _live(self, message: AbstractIncomingMessage) -> bool:
        channel = self._channel
        return channel is not None and not channel.is_closed and not message.channel.is_closed

    def _delivery(self, message: AbstractIncomingMessage) -> Delivery:
        if self._quorum:
            count = _int((message.headers or {}).get("x-delivery-count")) + 1
        else:
            count = 2 if message.redelivered else 1
        # A message without a message_id (published outside murmur) gets one per delivery:
        # its redeliveries then look like replays and are refused, never run twice.
        message_id = message.message_id or f"amqp-{uuid.uuid4().hex}"
        return Delivery(message.body, message_id, self._agent, count, handle=self._hold(message))

    async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
        """Hand out at most `max_messages` buffered deliveries, waiting up to `timeout`."""
        if self._closed or max_messages < 1:
            return []
        await self.open()
        deadline = time.monotonic() + timeout
        out: list[Delivery] = []
        while True:
            while self._buffer and len(out) < max_messages:
                message = self._buffer.popleft()
                if self._live(message):  # else: its channel died and RabbitMQ requeued it
                    out.append(self._delivery(message))
            remaining = deadline - time.monotonic()
            if out or remaining <= 0 or self._closed:
                return out
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()

    async def _settle(self, delivery: Delivery, requeue: bool | None) -> None:
        message = self._release(delivery.handle)
        if message is None or not self._live(message):
            return  # its channel is gone: RabbitMQ already requeued it
        try:
            if requeue is None:
                await message.ack()
            else:
                await message.nack(requeue=requeue)
        except Exception as exc:  # the channel died meanwhile: the broker requeued it
            log.debug("settle on a dead channel", queue=self._queue_name, error=repr(exc))

    async def ack(self, delivery: Delivery) -> None:
        """`basic.ack`: the message leaves the queue."""
        await self._settle(delivery, None)

    async def nack(self, delivery: Delivery) -> None:
        """`basic.nack(requeue=True)`: back to the queue for any consumer."""
        await self._settle(delivery, True)

    async def _drop_channel(self) -> None:
        channel, self._channel = self._channel, None
        self._forget_held()
        self._buffer.clear()
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), 10)

    async def _give_up(self) -> None:
        """Close the channel: RabbitMQ requeues every un-acked message it held."""
        await self._drop_channel()

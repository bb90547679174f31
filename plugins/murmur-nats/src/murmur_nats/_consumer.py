"""One worker's view of an agent queue: a pull subscription on the queue's durable consumer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from murmur.transport import Delivery, TaskConsumer

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

__all__ = ["JetStreamConsumer"]

log = structlog.get_logger("murmur.nats")

_CHECK_IDLE_S = 5.0
"""After this long without a message, check that the durable consumer still exists."""


class JetStreamConsumer(TaskConsumer):
    """Competing consumer on a JetStream durable pull consumer.

    Every worker of an agent pulls from the same durable consumer, so JetStream hands each
    message to one of them. A message not acked within the consumer's `ack_wait` (the
    reclaim window) is redelivered by the server to whichever worker pulls next: the
    default `reclaim` (nothing) is right, and `touch` sends `+WPI` (in progress), which
    restarts the ack wait of a long task.

    Args:
        subscription: The nats-py pull subscription bound to the durable consumer.
        stream: The stream name (part of every message id).
        agent_name: The agent queue.
        prefetch: Most deliveries held un-acked at once by this consumer.
        rebind: Declares the stream and the durable consumer again and returns a new pull
            subscription (`again=True`: forget what was declared before).

    A pull on a consumer that no longer exists (a server that came back without its
    store) just times out, so an idle consumer checks every few seconds that its durable
    consumer still exists, and declares it again when it does not.
    """

    def __init__(
        self,
        subscription: JetStreamContext.PullSubscription,
        *,
        stream: str,
        agent_name: str,
        prefetch: int,
        rebind: Callable[..., Awaitable[JetStreamContext.PullSubscription]] | None = None,
    ) -> None:
        self._subscription = subscription
        self._rebind = rebind
        self._last_seen = time.monotonic()
        self._stream = stream
        self._agent = agent_name
        self._prefetch = max(1, prefetch)
        self._outstanding: set[int] = set()
        self._closed = False

    async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
        """Pull at most `max_messages` (and never past `prefetch` un-acked) within `timeout`."""
        wanted = min(max_messages, self._prefetch - len(self._outstanding))
        if self._closed or max_messages < 1:
            return []
        if wanted < 1:  # prefetch reached: wait for an ack instead of spinning
            await asyncio.sleep(timeout)
            return []
        try:
            messages = await self._subscription.fetch(wanted, timeout=max(timeout, 0.01))
        except TimeoutError:  # nats.errors.TimeoutError and FetchTimeoutError subclass it
            await self._check_consumer()
            return []
        self._last_seen = time.monotonic()
        out: list[Delivery] = []
        for message in messages:
            meta = message.metadata
            sequence = meta.sequence.stream
            self._outstanding.add(sequence)
            out.append(
                Delivery(
                    data=message.data,
                    message_id=f"{self._stream}:{sequence}",
                    agent_name=self._agent,
                    delivery_count=meta.num_delivered or 1,
                    handle=(message, sequence),
                )
            )
        return out

    async def _check_consumer(self) -> None:
        """Idle for a while: make sure the durable consumer exists; declare it again if not."""
        if self._rebind is None or time.monotonic() - self._last_seen < _CHECK_IDLE_S:
            return
        from nats.js.errors import NotFoundError

        self._last_seen = time.monotonic()
        try:
            await self._subscription.consumer_info()
            return
        except NotFoundError:
            pass
        log.warning(
            "the durable consumer is gone (the server lost its store?); declaring it again",
            stream=self._stream,
        )
        old, self._subscription = self._subscription, await self._rebind(again=True)
        self._outstanding.clear()  # their acks refer to the consumer that is gone
        with contextlib.suppress(Exception):
            await old.unsubscribe()

    def _settle(self, delivery: Delivery) -> Any:
        message, sequence = delivery.handle
        self._outstanding.discard(sequence)
        return message

    async def ack(self, delivery: Delivery) -> None:
        """Ack: JetStream removes the message from the work queue."""
        message = self._settle(delivery)
        if not message._ackd:
            await message.ack()

    async def nack(self, delivery: Delivery) -> None:
        """Nak: JetStream redelivers it at once (same stream sequence, count + 1)."""
        message = self._settle(delivery)
        if not message._ackd:
            await message.nak()

    async def touch(self, delivery: Delivery) -> None:
        """`+WPI`: restart the ack wait, so a long task is not redelivered elsewhere."""
        message = delivery.handle[0]
        if not message._ackd:
            await message.in_progress()

    async def close(self) -> None:
        """Unsubscribe; un-acked messages are redelivered after the ack wait."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._subscription.unsubscribe()

"""Bases for broker plugins: a watching task consumer and a transport that closes what it opened.

The task consumer watches the deliveries it hands out; the transport closes the consumers and
subscriptions it opened.

`HeldDeliveryConsumer` is for brokers with no per-message visibility timeout of their own
(RabbitMQ, Kafka): it remembers every delivery handed out by `receive`, restarts its idle
window on `touch`, and when one goes `reclaim_min_idle_ms` without ack or touch (a stuck
worker loop, code that dropped a delivery) it gives up everything it holds, so the broker
hands those deliveries to another consumer. The plugin supplies only how to give up
(`_give_up`: close the channel, leave the consumer group).

`BrokerTransport` is for transports over one broker client (a FastStream broker, an SDK
client with an async `stop`): it tracks the task consumers and the result and event
subscriptions it opened; its `close` closes them, lets the plugin forget its connection
state, and stops the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from murmur.transport._base import Delivery, Subscription, TaskConsumer, Transport

__all__ = ["BrokerTransport", "HeldDeliveryConsumer"]

HeldT = TypeVar("HeldT")


@dataclass(slots=True)
class _Held(Generic[HeldT]):
    item: HeldT
    last_seen: float


def _log() -> Any:
    import structlog

    return structlog.get_logger("murmur.transport")


class HeldDeliveryConsumer(TaskConsumer, Generic[HeldT]):
    """A `TaskConsumer` that watches the deliveries it handed out (touch / watch / close).

    Subclasses call `_hold(item)` for each delivery `receive` hands out (the returned
    handle goes into `Delivery.handle`), `_release(handle)` on ack / nack, `_start_watch()`
    once consuming, and implement `_give_up` (hand every held delivery back to the broker;
    also called by `close`). Set `give_up_message` to what the broker does then, for the
    warning the watchdog logs.

    Args:
        reclaim_min_idle_ms: How long a handed-out delivery may go without ack or touch.
        name: The queue or topic, for logs and the watchdog task's name.
    """

    give_up_message: ClassVar[str] = "giving every held delivery back to the broker"
    """The end of the watchdog's warning: what `_give_up` makes the broker do."""

    def __init__(self, *, reclaim_min_idle_ms: int, name: str) -> None:
        self._window = max(reclaim_min_idle_ms, 1) / 1000
        self._watched_name = name
        self._held: dict[str, _Held[HeldT]] = {}
        self._arrived = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False

    # -- what a broker supplies ---------------------------------------------------------

    @abstractmethod
    async def _give_up(self) -> None:
        """Hand every delivery this consumer holds back to the broker and forget them.

        Handing back means closing the channel or leaving the group; forgetting is `_forget_held`.
        The next `receive` reconnects.
        """

    def _watching(self) -> bool:
        """Whether the watchdog should look at held deliveries now (default: always)."""
        return True

    # -- held deliveries ----------------------------------------------------------------

    def _hold(self, item: HeldT) -> str:
        """Remember a delivery being handed out; returns its handle."""
        handle = uuid.uuid4().hex
        self._held[handle] = _Held(item, time.monotonic())
        return handle

    def _held_item(self, handle: Any) -> HeldT | None:
        """The held item of a handle, or None (already settled, or given up)."""
        held = self._held.get(handle)
        return None if held is None else held.item

    def _release(self, handle: Any) -> HeldT | None:
        """Forget a delivery that was acked or nacked; returns its item, or None."""
        held = self._held.pop(handle, None)
        return None if held is None else held.item

    def _held_items(self) -> Iterator[HeldT]:
        return (held.item for held in self._held.values())

    def _forget_held(self) -> None:
        """Forget every held delivery (the broker has them back)."""
        self._held.clear()

    async def touch(self, delivery: Delivery) -> None:
        """Still working on it: restart its idle window."""
        held = self._held.get(delivery.handle)
        if held is not None:
            held.last_seen = time.monotonic()

    # -- the watchdog -------------------------------------------------------------------

    def _start_watch(self) -> None:
        """Start the watchdog (idempotent; again after it stopped)."""
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(
                self._watch(), name=f"murmur-watchdog-{self._watched_name}"
            )

    def _overdue(self, now: float) -> bool:
        return any(now - held.last_seen >= self._window for held in self._held.values())

    async def _watch(self) -> None:
        interval = max(0.02, self._window / 4)
        while not self._closed:
            await asyncio.sleep(interval)
            if self._watching() and self._overdue(time.monotonic()):
                _log().warning(
                    "a delivery was held past the reclaim window without ack or touch; "
                    + self.give_up_message,
                    queue=self._watched_name,
                    window_s=self._window,
                )
                await self._give_up()

    async def close(self) -> None:
        """Stop the watchdog and give every held delivery back to the broker (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._arrived.set()  # a receive waiting for messages returns now
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watchdog
        await self._give_up()


class _Stoppable(Protocol):
    async def stop(self) -> None: ...


BrokerT = TypeVar("BrokerT", bound=_Stoppable)


class BrokerTransport(Transport, Generic[BrokerT]):
    """A `Transport` over one broker client that closes what it opened.

    Subclasses keep their client (anything with an async `stop()`) in `self._broker`,
    register each consumer they return with `_track_consumer` and each subscription with
    `_track_subscription` (and `_untrack_subscription` when it closes), and implement
    `_forget_connection` (drop declared queues, streams, channels; close other readers).
    `close` then closes the consumers (their un-acked deliveries go back to the broker),
    the subscriptions, and
    stops the client within `close_timeout_s`.

    ```python
    class MyTransport(BrokerTransport[MyClient]):
        async def connect(self) -> None:
            self._broker = await MyClient.connect(self.url)

        async def _forget_connection(self) -> None:
            self._declared.clear()
    ```
    """

    close_timeout_s: ClassVar[float] = 10.0
    """How long stopping the client may take."""

    def __init__(self, url: str, *, namespace: str | None = None, **options: Any) -> None:
        super().__init__(url, namespace=namespace, **options)
        self._broker: BrokerT | None = None
        self._consumers: list[TaskConsumer] = []
        self._subscriptions: list[Subscription] = []

    def _track_consumer(self, consumer: TaskConsumer) -> None:
        """Close `consumer` with the transport."""
        self._consumers.append(consumer)

    def _track_subscription(self, subscription: Subscription) -> None:
        """Close `subscription` with the transport."""
        self._subscriptions.append(subscription)

    def _untrack_subscription(self, subscription: Subscription) -> None:
        """`subscription` closed by itself: the transport no longer closes it."""
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    @abstractmethod
    async def _forget_connection(self) -> None:
        """Forget what was declared on the connection and close anything else it holds.

        Called by `close` after consumers and subscriptions, before the client stops.
        """

    async def close(self) -> None:
        """Close consumers, subscriptions and the client (idempotent)."""
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            await consumer.close()
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(Exception):
                await subscription.aclose()
        await self._forget_connection()
        broker, self._broker = self._broker, None
        if broker is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.close_timeout_s):
                    await broker.stop()

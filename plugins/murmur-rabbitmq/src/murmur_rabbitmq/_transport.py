"""`RabbitTransport`: murmur's broker seam over RabbitMQ (AMQP 0-9-1).

- Task queue of an agent: a durable queue `<ns>:tasks:<agent>` (quorum by default),
  persistent messages, publisher confirms.
- Competing consumers: one channel per worker and agent, `basic.qos(prefetch)` = the
  worker's concurrency, manual acks.
- Reclaim: requeue on channel loss. Un-acked messages return to the queue when a worker's
  channel or connection dies; a live consumer that sits on a delivery past the reclaim
  window closes its own channel.
- Reply channel of a caller: an exclusive, auto-delete queue `<ns>:replies:<reply_to>`, fed
  through the default exchange.
- Fleet events: the built-in `amq.topic` exchange, routing key `<ns>:events`; each
  subscriber binds an exclusive queue.

FastStream's `RabbitBroker` owns the robust connection, declares the task queues and does
all publishing (confirmed, persistent). Consuming uses aio-pika on that connection
directly: FastStream subscribers settle a message when their handler returns, while a
murmur worker pulls a bounded batch, acks much later, and must be able to give a channel up.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import uuid
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from murmur.core.errors import RegistryError, SpawnError
from murmur.transport import (
    BrokerTransport,
    QueueSubscription,
    ReplyGrace,
    Subscription,
    TaskConsumer,
)
from murmur_rabbitmq._consumer import RabbitConsumer

if TYPE_CHECKING:
    from aio_pika.abc import AbstractChannel, AbstractRobustConnection
    from faststream.rabbit import RabbitBroker

__all__ = ["RabbitTransport"]

EVENTS_EXCHANGE = "amq.topic"
"""Fleet events go through this built-in exchange, so nothing is left to clean up."""

_OWN_OPTIONS = (
    "queue_type",
    "queue_expires_ms",
    "publish_timeout",
    "connect_timeout",
    "reconnect_interval",
    "reply_grace_s",
)
_OP_TIMEOUT = 10.0
_BAD_ROUTING = re.compile(r"[*#\s]")


def _queue_name(name: str) -> str:
    """A queue name / routing key for `name` (<= 255 bytes, no topic wildcards)."""
    cleaned = _BAD_ROUTING.sub("_", name)
    if cleaned == name and len(name.encode()) <= 200:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{cleaned.encode()[:180].decode(errors='ignore')}-{digest}"


def _nacked(exc: BaseException) -> bool:
    """Whether a confirmed publish failed because RabbitMQ answered `basic.nack`.

    It does when a queue the message was routed to could not take it: the queue was being
    deleted at that moment (an event subscriber leaving), its process failed, or a policy
    rejects publishes while it is full (`overflow: reject-publish`).
    """
    from aiormq.exceptions import DeliveryError

    return isinstance(exc, DeliveryError)


def _returned(confirmation: object) -> bool:
    """Whether a mandatory publish came back unroutable.

    aio-pika then returns the message instead of the `Basic.Ack` frame.
    """
    from aiormq.abc import DeliveredMessage

    return isinstance(confirmation, DeliveredMessage)


class RabbitTransport(BrokerTransport["RabbitBroker"]):
    """Tasks on durable queues with manual acks; replies on exclusive queues.

    ```python
    runtime = AgentRuntime(broker="amqp://guest:guest@127.0.0.1:5672/")
    worker = Worker("amqp://guest:guest@127.0.0.1:5672/", {"researcher": researcher},
                    concurrency=20)   # concurrency = the channel's prefetch
    ```

    Args:
        url: `amqp://user:password@host:port/vhost[?namespace=...&queue_type=quorum...]`
            (`amqps://` for TLS). Query options murmur does not know go to aio-pika
            (`heartbeat=`, `name=`, ...).
        namespace: Prefix of every queue and routing key (overrides the URL's).
        queue_type: `quorum` (default: replicated, counts redeliveries in
            `x-delivery-count`) or `classic` (only a redelivered flag).
        queue_expires_ms: Delete a task queue unused (no consumer, no publish-declare) for
            this long (`x-expires`); for throwaway namespaces such as tests. Default: never.
        publish_timeout: Seconds to wait for a publisher confirm (default 10).
        connect_timeout: Seconds to wait for the connection (default 10).
        reconnect_interval: Seconds between reconnection attempts of the robust connection
            after the broker went away (default 1).
        reply_grace_s: How long a worker keeps trying a result whose caller has no reply
            queue (a caller reconnecting after a broker restart) before it takes the caller
            for gone and drops the result (default 5).
    """

    scheme = "amqp"

    def __init__(
        self,
        url: str = "amqp://guest:guest@127.0.0.1:5672/",
        *,
        namespace: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(url, namespace=namespace, **options)
        opts = self.options
        self.queue_type = str(opts.pop("queue_type", "quorum")).lower()
        if self.queue_type not in ("quorum", "classic"):
            raise RegistryError(
                f"amqp:// option queue_type={self.queue_type!r} must be 'quorum' or 'classic'",
                code="invalid_options",
            )
        try:
            expires = opts.pop("queue_expires_ms", None)
            self.queue_expires_ms = int(expires) if expires not in (None, "") else None
            self.publish_timeout = float(opts.pop("publish_timeout", _OP_TIMEOUT))
            self.connect_timeout = float(opts.pop("connect_timeout", _OP_TIMEOUT))
            self.reconnect_interval = float(opts.pop("reconnect_interval", 1.0))
            self.reply_grace_s = float(opts.pop("reply_grace_s", 5.0))
        except (TypeError, ValueError) as exc:
            raise RegistryError(
                f"amqp:// options queue_expires_ms, publish_timeout, connect_timeout, "
                f"reconnect_interval and reply_grace_s must be numbers ({exc})",
                code="invalid_options",
            ) from None
        parts = urlsplit(url)
        query = [
            (k, v) for k, v in parse_qsl(parts.query) if k != "namespace" and k not in _OWN_OPTIONS
        ]
        self.amqp_url = urlunsplit(
            (
                parts.scheme,
                parts.netloc or "127.0.0.1:5672",
                parts.path or "/",
                urlencode(query),
                "",
            )
        )
        self._connection: AbstractRobustConnection | None = None
        self._declared: set[str] = set()
        self._events_exchange: Any = None
        self._lock = asyncio.Lock()
        self._replies = ReplyGrace(self.reply_grace_s, broker=self.safe_url)

    # -- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect FastStream's `RabbitBroker` (a robust aio-pika connection; idempotent)."""
        async with self._lock:
            if self._broker is not None:
                return
            from faststream.rabbit import RabbitBroker

            broker = RabbitBroker(self.amqp_url, reconnect_interval=self.reconnect_interval)
            try:
                async with asyncio.timeout(self.connect_timeout):
                    connection = await broker.connect()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await broker.stop()
                raise self.unreachable(exc, hint="start RabbitMQ") from exc
            self._broker = broker
            self._connection = connection

    async def _forget_connection(self) -> None:
        self._connection = None
        self._declared.clear()

    def _require(self) -> tuple[RabbitBroker, AbstractRobustConnection]:
        if self._broker is None or self._connection is None:
            raise SpawnError("the RabbitMQ transport is not connected: await transport.connect()")
        return self._broker, self._connection

    # -- tasks ------------------------------------------------------------------------

    def _task_queue(self, agent_name: str) -> str:
        return _queue_name(self.name("tasks", agent_name))

    async def _declare_task_queue(self, queue_name: str) -> None:
        if queue_name in self._declared:
            return
        from faststream.rabbit import QueueType, RabbitQueue

        broker, _ = self._require()
        arguments: dict[str, Any] = {}
        if self.queue_expires_ms:
            arguments["x-expires"] = self.queue_expires_ms
        if self.queue_type == "quorum":
            queue = RabbitQueue(
                queue_name,
                queue_type=QueueType.QUORUM,
                durable=True,
                arguments=cast("Any", arguments),
            )
        else:
            queue = RabbitQueue(queue_name, durable=True, arguments=cast("Any", arguments))
        async with asyncio.timeout(_OP_TIMEOUT):
            await broker.declare_queue(queue)
        self._declared.add(queue_name)

    async def publish_task(self, agent_name: str, data: bytes) -> None:
        """Publish a persistent message with a fresh `message_id` (returns once confirmed).

        Mandatory: a task the broker cannot route (its queue was deleted: expired, or lost
        with a node's data) is returned instead of dropped; the queue is declared again and
        a transient `SpawnError` lets `JobBackend` publish it again.
        """
        broker, _ = self._require()
        queue_name = self._task_queue(agent_name)
        await self._declare_task_queue(queue_name)
        try:
            confirmation = await broker.publish(
                bytes(data),
                queue=queue_name,
                persist=True,
                mandatory=True,
                message_id=uuid.uuid4().hex,
                timeout=self.publish_timeout,
            )
        except Exception as exc:
            if not _nacked(exc):
                raise
            raise SpawnError(
                f"RabbitMQ at {self.safe_url} refused a task for queue {queue_name!r} "
                f"({exc}): the queue could not take it (a policy rejecting publishes while "
                "it is full, or the queue failing); it is published again",
                code="broker_error",
                details={"transient": True, "broker": self.safe_url, "queue": queue_name},
            ) from exc
        if _returned(confirmation):
            self._declared.discard(queue_name)
            raise SpawnError(
                f"RabbitMQ at {self.safe_url} returned a task for queue {queue_name!r}: the "
                "queue does not exist (expired or lost); it is declared again on the next "
                "publish",
                code="broker_error",
                details={"transient": True, "broker": self.safe_url, "queue": queue_name},
            )

    async def consume_tasks(
        self, agent_name: str, *, consumer_id: str, prefetch: int, reclaim_min_idle_ms: int
    ) -> TaskConsumer:
        """Open a channel with `basic.qos(prefetch)` consuming the agent's queue.

        The consumer tag is `consumer_id` plus a suffix.
        """
        _, connection = self._require()
        queue_name = self._task_queue(agent_name)

        async def ensure_queue() -> None:
            await self._declare_task_queue(queue_name)

        consumer = RabbitConsumer(
            connection,
            queue_name=queue_name,
            agent_name=agent_name,
            consumer_id=consumer_id,
            prefetch=prefetch,
            reclaim_min_idle_ms=reclaim_min_idle_ms,
            ensure_queue=ensure_queue,
            quorum=self.queue_type == "quorum",
        )
        async with asyncio.timeout(_OP_TIMEOUT):
            await consumer.open()
        self._track_consumer(consumer)
        return consumer

    # -- replies and events -----------------------------------------------------------

    async def _subscribe(self, queue_name: str, *, bind_to_events: bool) -> Subscription:
        _, connection = self._require()
        channel: AbstractChannel = await connection.channel(publisher_confirms=False)
        queue = await channel.declare_queue(
            queue_name, durable=False, exclusive=True, auto_delete=True
        )
        if bind_to_events:
            await queue.bind(EVENTS_EXCHANGE, routing_key=self._events_key())

        async def on_message(message: Any) -> None:
            subscription.put(message.body)

        subscription: QueueSubscription
        await queue.consume(on_message, no_ack=True)

        async def unsubscribe() -> None:
            self._untrack_subscription(subscription)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), _OP_TIMEOUT)  # deletes the queue

        subscription = QueueSubscription(on_close=unsubscribe)
        self._track_subscription(subscription)
        return subscription

    def _events_key(self) -> str:
        return _queue_name(self.name("events"))

    async def publish_result(self, reply_to: str, data: bytes) -> None:
        """Route to the caller's reply queue, mandatory and confirmed.

        A result RabbitMQ cannot route (the caller's exclusive queue is not there: the
        caller is reconnecting after a broker restart, or gone) comes back and is tried
        again for `reply_grace_s`, then the caller is taken for gone
        (`murmur.transport.ReplyGrace`). A publish that fails (the connection is down)
        raises, so the worker leaves the task un-acked and RabbitMQ requeues it.
        """
        broker, _ = self._require()
        routing_key = _queue_name(self.name("replies", reply_to))

        async def attempt() -> bool:
            try:
                confirmation = await broker.publish(
                    bytes(data),
                    routing_key=routing_key,
                    mandatory=True,
                    timeout=self.publish_timeout,
                )
            except Exception as exc:
                raise SpawnError(
                    f"publishing a result to reply queue {routing_key!r} on {self.safe_url} "
                    f"failed ({exc!r}); the task stays un-acked and RabbitMQ delivers it "
                    "again (is the broker up?)",
                    code="broker_error",
                    details={"transient": True, "broker": self.safe_url},
                ) from exc
            return not _returned(confirmation)

        await self._replies.deliver(routing_key, attempt)

    async def subscribe_results(self, reply_to: str) -> Subscription:
        """Declare and consume the caller's exclusive reply queue."""
        return await self._subscribe(
            _queue_name(self.name("replies", reply_to)), bind_to_events=False
        )

    async def publish_event(self, data: bytes) -> None:
        """Publish to `amq.topic` with the namespace's event routing key.

        Best effort, as the event channel is: a `basic.nack` means one of the subscribers'
        queues could not take the event (most often a subscriber leaving while the event
        was routed to it; the others got it), which is no failure of the publish.
        """
        broker, _ = self._require()
        if self._events_exchange is None:
            from faststream.rabbit import ExchangeType, RabbitExchange

            # declare=False: a passive check of the built-in exchange, never a redeclare.
            self._events_exchange = RabbitExchange(
                EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True, declare=False
            )
        try:
            await broker.publish(
                bytes(data),
                exchange=self._events_exchange,
                routing_key=self._events_key(),
                mandatory=False,
                timeout=self.publish_timeout,
            )
        except Exception as exc:
            if not _nacked(exc):
                raise

    async def subscribe_events(self) -> Subscription:
        """Bind a fresh exclusive queue to the namespace's event routing key."""
        name = _queue_name(self.name("events", uuid.uuid4().hex))
        return await self._subscribe(name, bind_to_events=True)

"""The `Transport` interface: the only thing a broker plugin implements.

A transport moves opaque bytes. Envelopes, signing, replay refusal, correlation, dedup and
the worker loop are the kernel's (`JobBackend`, `Worker`), written once against this
interface. Four channels:

- task queue, one per agent name: `publish_task`; `consume_tasks` -> `TaskConsumer`;
  competing consumers, explicit ack, redelivery.
- reply channel, one per caller (`reply_to`): `publish_result`; `subscribe_results`;
  every frame to the one subscriber, in order.
- fleet event channel: `publish_event`; `subscribe_events`; fan-out, best effort.
- heartbeat: `heartbeat`; a liveness record of a consumer.

Every name a transport creates on the broker (streams, subjects, queues, topics) is
prefixed by its `namespace` (URL query `?namespace=...`, default `"murmur"`), so several
fleets, and tests, can share one server.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit, urlunsplit

from murmur.core.errors import SpawnError

__all__ = [
    "Delivery",
    "QueueSubscription",
    "Subscription",
    "TaskConsumer",
    "Transport",
    "redact_url",
    "url_options",
]

DEFAULT_NAMESPACE = "murmur"
_TRANSIENT_WORDS = (
    "Connection",
    "Timeout",
    "NoServers",
    "Closed",
    "Disconnected",
    "Unavailable",
    "InvalidState",
)


@dataclass(slots=True)
class Delivery:
    """One task message handed to one consumer.

    Attributes:
        data: The message body (a serialized task envelope; opaque to the transport).
        message_id: The broker's identity of the published message. It MUST be the same on
            every redelivery of that message (a Redis stream entry id, a JetStream stream
            sequence, a Kafka partition/offset, a RabbitMQ `message_id` property): the worker
            uses it to tell a legitimate redelivery from a replayed envelope.
        agent_name: The agent queue the message came from.
        delivery_count: 1 on first delivery, more when redelivered or reclaimed (best effort:
            at least 2 whenever the transport knows it is a redelivery).
        handle: Transport-private state needed to ack / nack / touch it.
    """

    data: bytes
    message_id: str
    agent_name: str
    delivery_count: int = 1
    handle: Any = None
    received_at: float = 0.0

    def __post_init__(self) -> None:
        if not self.received_at:
            self.received_at = time.monotonic()


class TaskConsumer(ABC):
    """One consumer in the competing group of one agent queue.

    Messages received and not yet acked are *pending* on this consumer. A pending message
    that is neither acked nor touched for `reclaim_min_idle_ms` (the consumer crashed, was
    SIGKILLed, lost its connection) MUST become available to another consumer of the same
    group: either the broker redelivers it by itself (NATS ack wait, RabbitMQ channel loss),
    or another consumer takes it over in `reclaim` (Redis XAUTOCLAIM).
    """

    @abstractmethod
    async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
        """Wait up to `timeout` seconds for at most `max_messages` new deliveries.

        `timeout` is how long the broker may block the read (Redis `BLOCK`, a pull
        consumer's fetch wait), not a client-side deadline.

        Returns an empty list on timeout. Never returns more than `max_messages`.
        """

    @abstractmethod
    async def ack(self, delivery: Delivery) -> None:
        """Settle a delivery: it is never delivered again."""

    @abstractmethod
    async def nack(self, delivery: Delivery) -> None:
        """Give a delivery back: it is redelivered (to this or another consumer) promptly.

        It is redelivered with the same `message_id` and a higher `delivery_count`.
        """

    async def reclaim(self, max_messages: int) -> list[Delivery]:
        """Take over at most `max_messages` deliveries abandoned by other consumers.

        Abandoned means pending and idle for at least `reclaim_min_idle_ms`.

        The default returns nothing: right for brokers that redeliver abandoned messages by
        themselves. Redis streams override it with XAUTOCLAIM.
        """
        return []

    async def touch(self, delivery: Delivery) -> None:  # noqa: B027 - optional hook
        """Tell the broker this delivery is still being worked on (resets its idle time).

        This way a long task is not reclaimed from a live consumer. Default: nothing.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Stop receiving. Pending deliveries stay pending (to be reclaimed/redelivered)."""


class Subscription(ABC):
    """An open subscription: an async iterator of message bodies, closed with `aclose`."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    @abstractmethod
    async def __anext__(self) -> bytes:
        """The next message body (raises `StopAsyncIteration` once closed)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Unsubscribe. Idempotent."""


_CLOSED = object()


class QueueSubscription(Subscription):
    """A `Subscription` fed by `put` (a push-style client callback, a FastStream handler).

    Args:
        on_close: An optional coroutine function run once by `aclose` (unsubscribe).
    """

    def __init__(self, on_close: Any = None) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._on_close = on_close
        self._closed = False

    def put(self, data: bytes) -> None:
        """Deliver one message body to the iterator (no-op once closed)."""
        if not self._closed:
            self._queue.put_nowait(data)

    async def __anext__(self) -> bytes:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(_CLOSED)
        if self._on_close is not None:
            await self._on_close()


class Transport(ABC):
    """Moves task, result and event bytes over one broker. Broker plugins subclass this.

    Shape of a plugin (see `murmur.transport.MemoryTransport` for a complete one, and
    `murmur.testing.transport.TransportContract` for the behaviour every transport passes):

    ```python
    class MyTransport(Transport):
        scheme = "mybroker"

        async def connect(self) -> None: ...
        async def close(self) -> None: ...
        async def publish_task(self, agent_name, data) -> None: ...
        async def consume_tasks(self, agent_name, *, consumer_id, prefetch,
                                reclaim_min_idle_ms) -> TaskConsumer: ...
        async def publish_result(self, reply_to, data) -> None: ...
        async def subscribe_results(self, reply_to) -> Subscription: ...
        async def publish_event(self, data) -> None: ...
        async def subscribe_events(self) -> Subscription: ...

    backend_factory = transport_backend_factory(MyTransport)  # the `murmur.backends` entry point
    ```

    Args:
        url: The broker URL. Its query may carry `namespace=...`; transports may accept more.
        namespace: Prefix of every broker-side name (overrides the URL's).
        **options: Transport-specific options (unknown ones are kept in `self.options`).
    """

    scheme: ClassVar[str] = ""

    def __init__(self, url: str, *, namespace: str | None = None, **options: Any) -> None:
        self.url = url
        query = url_options(url)
        self.namespace = namespace or query.pop("namespace", None) or DEFAULT_NAMESPACE
        self.options: dict[str, Any] = {**query, **options}
        self._nonces: dict[str, tuple[str, float]] = {}

    # -- lifecycle --------------------------------------------------------------------

    @abstractmethod
    async def connect(self) -> None:
        """Open connections. Called once before any other method; must be idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Close every consumer, subscription and connection. Idempotent."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- tasks ------------------------------------------------------------------------

    @abstractmethod
    async def publish_task(self, agent_name: str, data: bytes) -> None:
        """Append one task to `agent_name`'s queue (durably, where the broker can).

        A task published before any consumer exists MUST be delivered once one subscribes.
        """

    @abstractmethod
    async def consume_tasks(
        self,
        agent_name: str,
        *,
        consumer_id: str,
        prefetch: int,
        reclaim_min_idle_ms: int,
    ) -> TaskConsumer:
        """Join the competing consumer group of `agent_name`'s queue as `consumer_id`.

        Args:
            agent_name: The queue.
            consumer_id: Stable id of this consumer (the same after a restart, so a broker
                that keys pending state by consumer can hand it back).
            prefetch: Most deliveries this consumer holds un-acked at once.
            reclaim_min_idle_ms: How long a pending delivery may go without ack or touch
                before it may be given to another consumer (ack wait, XAUTOCLAIM idle).
        """

    # -- results ----------------------------------------------------------------------

    @abstractmethod
    async def publish_result(self, reply_to: str, data: bytes) -> None:
        """Send one frame to the caller that subscribed to `reply_to`."""

    @abstractmethod
    async def subscribe_results(self, reply_to: str) -> Subscription:
        """Subscribe to `reply_to`.

        Once this returns, every frame published to it is delivered, in publish order per publisher.
        """

    # -- fleet events -----------------------------------------------------------------

    @abstractmethod
    async def publish_event(self, data: bytes) -> None:
        """Broadcast one frame on the fleet event channel (best effort).

        A subscriber that cannot take the frame (one leaving at that moment) is no failure
        of the publish. A broker that cannot take it at all raises; the worker's relay drops
        the event when `transient` says the failure is an outage (`BrokerEventBridge.dropped`).
        """

    @abstractmethod
    async def subscribe_events(self) -> Subscription:
        """Subscribe to the fleet event channel.

        Frames published after this returns are delivered to every subscriber.
        """

    async def heartbeat(self, consumer_id: str, info: dict[str, Any], ttl_s: float) -> None:  # noqa: B027
        """Record that `consumer_id` is alive for `ttl_s` seconds.

        Default: nothing (the worker also broadcasts a `WORKER_HEARTBEAT` event).
        """

    # -- replay refusal ---------------------------------------------------------------

    async def claim_nonce(self, nonce: str, message_id: str, *, ttl_s: float) -> bool:
        """Record that `nonce` was seen in broker message `message_id`.

        Returns False when the nonce was already seen in a *different* message: the
        envelope was replayed. The default remembers nonces in this transport instance;
        a transport with shared storage (Redis) overrides it so the refusal is fleet-wide.
        """
        now = time.monotonic()
        if len(self._nonces) > 4096:
            self._nonces = {k: v for k, v in self._nonces.items() if v[1] > now}
        seen = self._nonces.get(nonce)
        if seen is not None and seen[1] > now:
            return seen[0] == message_id
        self._nonces[nonce] = (message_id, now + ttl_s)
        return True

    # -- broker state and errors --------------------------------------------------------

    async def epoch(self) -> str | None:
        """An identity of the broker's stored state; None (the default) when restarts lose nothing.

        None means the broker keeps what it was given across restarts.

        A transport whose broker can forget queued tasks (Redis without persistence)
        returns a value that changes when that happens (Redis: the server's `run_id`);
        `JobBackend` then publishes again the tasks it is still waiting for.
        """
        return None

    def transient(self, exc: BaseException) -> bool:
        """True when `exc` from a broker call is worth retrying.

        That is when the broker is down, restarting or unreachable; False when the broker refused
        the request.

        The default recognises timeouts, OS-level connection errors and client exceptions
        named like connection failures; a transport overrides it for its client's errors.
        """
        if isinstance(exc, TimeoutError | ConnectionError | OSError):
            return True
        details = getattr(exc, "details", None)
        if isinstance(details, dict) and "transient" in details:
            return bool(details["transient"])
        names = " ".join(cls.__name__ for cls in type(exc).__mro__)
        return any(word in names for word in _TRANSIENT_WORDS)

    @property
    def safe_url(self) -> str:
        """The broker URL with any password replaced by `***` (for messages and logs)."""
        return redact_url(self.url)

    def unreachable(self, exc: BaseException | None = None, *, hint: str = "") -> SpawnError:
        """The typed error for a broker that cannot be reached (transient).

        `hint` says what to start (e.g. "start nats-server with JetStream (-js)").
        """
        cause = ""
        if exc is not None:
            text = redact_text(str(exc), self.url).strip()
            cause = f" ({type(exc).__name__}: {text})" if text else f" ({type(exc).__name__})"
        todo = f"{hint} or fix the URL" if hint else "check that it is running and the URL"
        return SpawnError(
            f"cannot reach the broker at {self.safe_url}{cause}; {todo}",
            code="broker_unavailable",
            details={"transient": True, "broker": self.safe_url},
        )

    # -- naming helpers ---------------------------------------------------------------

    def name(self, *parts: str) -> str:
        """A broker-side name under this transport's namespace: `namespace:part:part`."""
        return ":".join((self.namespace, *parts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.safe_url!r}, namespace={self.namespace!r})"


def redact_text(text: str, url: str) -> str:
    """`text` with the password of `url` (if any) replaced by `***` wherever it appears."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return text
    return text.replace(password, "***") if password else text


def redact_url(url: str) -> str:
    """`url` with the password of its user info replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def url_options(url: str) -> dict[str, Any]:
    """The query parameters of a broker URL as a flat dict (last value wins)."""
    query = urlsplit(url).query
    return {k: v[-1] for k, v in parse_qs(query).items()}

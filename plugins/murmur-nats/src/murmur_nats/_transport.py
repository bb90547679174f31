"""`NatsTransport`: murmur's broker seam over NATS JetStream.

- Task queue of an agent: a JetStream stream (work-queue retention, file storage) with one
  durable pull consumer `workers`, shared by every worker of the agent.
- Reclaim: the consumer's `ack_wait` is the worker's `reclaim_min_idle_ms`; the server
  redelivers a message not acked within it. `touch` sends `+WPI` (in progress).
- Reply channel of a caller: the core NATS subject `<ns>:replies:<reply_to>`; a result is
  a request the caller's subscription answers, so a result nobody received (a caller
  reconnecting after a server restart) fails loudly and the task is delivered again.
- Fleet events: the core NATS subject `<ns>:events`, fanned out to every subscriber.
- Replay refusal: a JetStream KV bucket `<ns>_nonces` (TTL = the replay window), fleet-wide.

Why FastStream and nats-py side by side: FastStream's `NatsBroker` owns the connection
(reconnects, options) and does all publishing (`broker.publish(..., stream=...)` gives a
JetStream `PubAck`). It has no API for what a worker needs from a queue: FastStream's
pull subscribers run a handler per message and settle it when the handler returns, while a
murmur worker pulls a bounded batch (`receive(max_messages, timeout)`), acks much later,
touches long tasks and nacks on shutdown. So the queue side uses nats-py's JetStream API
directly on the broker's connection: `add_stream` / `add_consumer` (create-or-update of the
ack wait), `pull_subscribe_bind` + `fetch`, `Msg.ack` / `nak` / `in_progress`; core
subscriptions for replies and events are plain `nc.subscribe` callbacks feeding a
`QueueSubscription`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from murmur.core.errors import RegistryError, SpawnError
from murmur.transport import (
    BrokerTransport,
    QueueSubscription,
    ReplyGrace,
    Subscription,
    TaskConsumer,
)
from murmur_nats._consumer import JetStreamConsumer
from murmur_nats._names import kv_key, stream_name, subject

if TYPE_CHECKING:
    from faststream.nats import NatsBroker
    from nats.aio.client import Client
    from nats.js.client import JetStreamContext
    from nats.js.kv import KeyValue

__all__ = ["NatsTransport"]

DURABLE = "workers"
"""The durable consumer every worker of an agent shares (JetStream balances pulls on it)."""

_OP_TIMEOUT = 10.0
_SUBSCRIBE_SETTLE_S = 0.05  # see `_subscribe`


def _int(options: dict[str, Any], key: str, default: int) -> int:
    value = options.pop(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RegistryError(
            f"nats:// option {key}={value!r} must be an integer", code="invalid_options"
        ) from None


def _float(options: dict[str, Any], key: str, default: float) -> float:
    value = options.pop(key, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RegistryError(
            f"nats:// option {key}={value!r} must be a number", code="invalid_options"
        ) from None


class NatsTransport(BrokerTransport["NatsBroker"]):
    """Tasks on JetStream work queues, replies and events on core NATS subjects.

    ```python
    runtime = AgentRuntime(broker="nats://127.0.0.1:4222")
    worker = Worker("nats://127.0.0.1:4222", {"researcher": researcher}, concurrency=20)
    ```

    Args:
        url: `nats://host:port[,host:port...][?namespace=...&storage=file&...]`.
        namespace: Prefix of every subject, stream and bucket (overrides the URL's).
        storage: `file` (default, survives a server restart) or `memory`, for task streams
            and the nonce bucket.
        stream_max_age_s: Drop queued tasks older than this (default 0: keep until acked).
        max_ack_pending: Most un-acked messages per agent queue, fleet-wide (default 10000).
        publish_timeout: Seconds to wait for JetStream's publish ack (default 5).
        connect_timeout: Seconds per connection attempt (default 5).
        reply_grace_s: How long a worker keeps trying a result whose caller has no
            subscription (a caller reconnecting after a server restart) before it takes the
            caller for gone and drops the result (default 5).
        reconnect_wait_s: Seconds between reconnection attempts to a server (default 0.5).

    Credentials go in the URL (`nats://user:password@host:4222`).
    """

    scheme = "nats"

    def __init__(
        self, url: str = "nats://127.0.0.1:4222", *, namespace: str | None = None, **options: Any
    ) -> None:
        super().__init__(url, namespace=namespace, **options)
        opts = self.options
        storage = str(opts.pop("storage", "file")).lower()
        if storage not in ("file", "memory"):
            raise RegistryError(
                f"nats:// option storage={storage!r} must be 'file' or 'memory'",
                code="invalid_options",
            )
        self.storage = storage
        self.stream_max_age_s = _float(opts, "stream_max_age_s", 0.0)
        self.max_ack_pending = _int(opts, "max_ack_pending", 10_000)
        self.publish_timeout = _float(opts, "publish_timeout", 5.0)
        self.connect_timeout = _float(opts, "connect_timeout", 5.0)
        self.reply_grace_s = _float(opts, "reply_grace_s", 5.0)
        self.reconnect_wait_s = _float(opts, "reconnect_wait_s", 0.5)
        parts = urlsplit(url)
        self.servers = [
            urlunsplit((parts.scheme or "nats", netloc, "", "", ""))
            for netloc in (parts.netloc or "127.0.0.1:4222").split(",")
        ]
        self._broker: NatsBroker | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._streams: set[str] = set()
        self._lock = asyncio.Lock()
        self._replies = ReplyGrace(self.reply_grace_s, broker=self.safe_url)

    # -- lifecycle --------------------------------------------------------------------

    @property
    def connection(self) -> Client:
        """The nats-py client under FastStream's broker (connected)."""
        if self._broker is None:
            raise SpawnError("the NATS transport is not connected: await transport.connect()")
        return self._broker.connection

    async def connect(self) -> None:
        """Connect FastStream's `NatsBroker` (idempotent)."""
        async with self._lock:
            if self._broker is not None:
                return
            from faststream.nats import NatsBroker

            broker = NatsBroker(
                self.servers,
                connect_timeout=int(max(1, self.connect_timeout)),
                max_reconnect_attempts=-1,
                reconnect_time_wait=self.reconnect_wait_s,  # ty: ignore[invalid-argument-type]
                name=f"murmur-{self.namespace}",
            )
            try:
                async with asyncio.timeout(self.connect_timeout * len(self.servers) + 1):
                    await broker.connect()
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await broker.stop()
                raise self.unreachable(exc, hint="start nats-server with JetStream (-js)") from exc
            self._broker = broker
            self._js = broker.connection.jetstream(timeout=_OP_TIMEOUT)

    async def _forget_connection(self) -> None:
        self._js = self._kv = None
        self._streams.clear()

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise SpawnError("the NATS transport is not connected: await transport.connect()")
        return self._js

    # -- tasks ------------------------------------------------------------------------

    def _task_names(self, agent_name: str) -> tuple[str, str]:
        name = self.name("tasks", agent_name)
        return subject(name), stream_name(name)

    async def _ensure_stream(self, stream: str, task_subject: str) -> None:
        if stream in self._streams:
            return
        from nats.js import api
        from nats.js.errors import BadRequestError

        config = api.StreamConfig(
            name=stream,
            subjects=[task_subject],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType(self.storage),
            max_age=self.stream_max_age_s or None,
            discard=api.DiscardPolicy.OLD,
        )
        try:
            await self._jetstream().add_stream(config)
        except BadRequestError as exc:
            if "already in use" not in str(exc.description or ""):
                raise
            # Same stream declared with other limits by another version: use it as it is.
        self._streams.add(stream)

    async def publish_task(self, agent_name: str, data: bytes) -> None:
        """Store the task in the agent's stream (returns once JetStream acked it).

        A stream that is gone (a server that came back without its store) is created again
        and the task published once more.
        """
        from nats.js.errors import NoStreamResponseError

        task_subject, stream = self._task_names(agent_name)
        broker = self._broker
        assert broker is not None
        for attempt in (1, 2):
            await self._ensure_stream(stream, task_subject)
            try:
                await broker.publish(
                    bytes(data), task_subject, stream=stream, timeout=self.publish_timeout
                )
                return
            except NoStreamResponseError:
                self._streams.discard(stream)
                if attempt == 2:
                    raise SpawnError(
                        f"no JetStream stream answers for {task_subject!r} on {self.safe_url}, "
                        "even after declaring it again; is JetStream enabled "
                        "(`nats-server -js`)?",
                        code="broker_error",
                        details={"transient": True, "broker": self.safe_url},
                    ) from None

    async def consume_tasks(
        self, agent_name: str, *, consumer_id: str, prefetch: int, reclaim_min_idle_ms: int
    ) -> TaskConsumer:
        """Bind to the agent's durable consumer, creating it or updating its ack wait.

        `consumer_id` names nothing on the server: every worker pulls from the one durable
        consumer `workers`, which tracks pending messages for the whole group.
        """
        _, stream = self._task_names(agent_name)

        async def bind(*, again: bool = False) -> JetStreamContext.PullSubscription:
            return await self._bind(agent_name, reclaim_min_idle_ms, again=again)

        consumer = JetStreamConsumer(
            await bind(), stream=stream, agent_name=agent_name, prefetch=prefetch, rebind=bind
        )
        self._track_consumer(consumer)
        return consumer

    async def _bind(
        self, agent_name: str, reclaim_min_idle_ms: int, *, again: bool = False
    ) -> JetStreamContext.PullSubscription:
        """Create (or update) the agent's durable consumer and bind a pull subscription.

        `again`: the stream or consumer was found missing (a server that came back without
        its store): declare both again instead of trusting what this transport created.
        """
        from nats.js import api

        task_subject, stream = self._task_names(agent_name)
        if again:
            self._streams.discard(stream)
        await self._ensure_stream(stream, task_subject)
        js = self._jetstream()
        config = api.ConsumerConfig(
            name=DURABLE,
            durable_name=DURABLE,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=max(reclaim_min_idle_ms, 1) / 1000,
            max_deliver=-1,
            max_ack_pending=self.max_ack_pending,
            filter_subject=task_subject,
        )
        # CONSUMER.CREATE with an existing name updates its editable fields (ack wait).
        await js.add_consumer(stream, config)
        return await js.pull_subscribe_bind(DURABLE, stream=stream)

    # -- replies and events -----------------------------------------------------------

    async def _subscribe(self, name: str) -> Subscription:
        connection = self.connection

        async def on_message(message: Any) -> None:
            subscription.put(message.data)
            if message.reply:  # a result sent as a request: tell the worker it arrived
                with contextlib.suppress(Exception):
                    await message.respond(b"")

        subscription: QueueSubscription
        nats_subscription = await connection.subscribe(subject(name), cb=on_message)

        async def unsubscribe() -> None:
            self._untrack_subscription(subscription)
            with contextlib.suppress(Exception):
                await nats_subscription.unsubscribe()

        subscription = QueueSubscription(on_close=unsubscribe)
        self._track_subscription(subscription)
        # PING/PONG: once the server answered, it has processed our SUB.
        await connection.flush(timeout=int(_OP_TIMEOUT))
        # Even then, a message published from another connection a moment later can miss
        # the new subscription under load (nats-server 2.9.10 here: the first event of 10
        # rounds in 1,800, none with a 5 ms pause; nats-server issues #2150 and #5677):
        # waiting that moment out here makes "subscribed" mean "sees what comes next".
        await asyncio.sleep(_SUBSCRIBE_SETTLE_S)
        return subscription

    async def publish_result(self, reply_to: str, data: bytes) -> None:
        """Send a frame to the caller's reply subject as a request.

        The caller's subscription answers the request once it holds the frame.

        Core NATS drops what nobody is subscribed to (a caller reconnecting after a server
        restart): "no responders" is tried again for `reply_grace_s`, then the caller is
        taken for gone (`murmur.transport.ReplyGrace`). No answer at all raises a transient
        `SpawnError`, so the worker leaves the task un-acked for redelivery.
        """
        from nats.errors import NoRespondersError

        name = subject(self.name("replies", reply_to))
        connection = self.connection

        async def attempt() -> bool:
            try:
                await connection.request(name, bytes(data), timeout=self.publish_timeout)
            except NoRespondersError:
                return False
            except TimeoutError:  # nats.errors.TimeoutError subclasses it
                raise SpawnError(
                    f"the caller on reply subject {name!r} did not confirm a result within "
                    f"{self.publish_timeout:g}s on {self.safe_url}; the task stays un-acked "
                    "and is delivered again after the ack wait (is the NATS server up?)",
                    code="broker_error",
                    details={"transient": True, "broker": self.safe_url},
                ) from None
            return True

        await self._replies.deliver(name, attempt)

    async def subscribe_results(self, reply_to: str) -> Subscription:
        """Subscribe to the caller's reply subject."""
        return await self._subscribe(self.name("replies", reply_to))

    async def publish_event(self, data: bytes) -> None:
        """Publish on the fleet event subject."""
        broker = self._broker
        assert broker is not None
        await broker.publish(bytes(data), subject(self.name("events")))

    async def subscribe_events(self) -> Subscription:
        """Subscribe to the fleet event subject."""
        return await self._subscribe(self.name("events"))

    # -- broker state -----------------------------------------------------------------

    async def epoch(self) -> str | None:
        """With `storage=memory`, the id of the server this transport is connected to; else None.

        A restarted server has a new id and has lost every queued task, so `JobBackend` publishes
        again the tasks it is waiting for. With file storage (the default) the server keeps its
        streams across a restart: None.
        """
        if self.storage != "memory":
            return None
        info = getattr(self.connection, "_server_info", None) or {}
        server_id = info.get("server_id")
        return str(server_id) if server_id else None

    # -- replay refusal ---------------------------------------------------------------

    async def _nonce_bucket(self, ttl_s: float) -> KeyValue:
        if self._kv is not None:
            return self._kv
        from nats.js.errors import BucketNotFoundError

        js = self._jetstream()
        bucket = stream_name(self.name("nonces"))
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            from nats.js import api

            kv = await js.create_key_value(
                bucket=bucket,
                ttl=max(float(ttl_s), 1.0),
                history=1,
                storage=api.StorageType(self.storage),
            )
        self._kv = kv
        return kv

    async def claim_nonce(self, nonce: str, message_id: str, *, ttl_s: float) -> bool:
        """Fleet-wide: `KV.create(nonce)` succeeds once per nonce within the bucket's TTL.

        The TTL is the first worker's `ttl_s`; a later claim is fresh only for the same message.
        """
        from nats.js.errors import KeyWrongLastSequenceError

        kv = await self._nonce_bucket(ttl_s)
        key = kv_key(nonce)
        try:
            await kv.create(key, message_id.encode())
            return True
        except KeyWrongLastSequenceError:
            entry = await kv.get(key)
            return entry.value is not None and entry.value.decode() == message_id
        except Exception:
            self._kv = None  # the bucket may be gone (a server back without its store)
            raise

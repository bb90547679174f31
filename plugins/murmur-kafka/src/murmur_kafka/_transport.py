"""`KafkaTransport`: murmur's broker seam over Kafka (confluent-kafka / librdkafka).

- Task queue of an agent: the topic `<ns>.tasks.<agent>`; tasks go round-robin over its
  partitions.
- Competing consumers: the consumer group `<ns>.workers.<agent>`; each partition has one
  owner at a time.
- Ack: the partition's committed offset advances over the contiguous acked prefix.
- Reclaim: a member that dies stops heartbeating; after the session timeout the group
  rebalances and the partition's new owner re-reads from the last committed offset.
- Reply channel of a caller: the topic `<ns>.replies`, keyed by `reply_to`, on partition
  `crc32(reply_to) % n`; the caller reads that partition from its end and keeps its key
  (FastStream has no request/reply on real Kafka).
- Fleet events: the topic `<ns>.events`, partition 0, read from its end by every subscriber.

FastStream's confluent `KafkaBroker` owns the producer and does all publishing (acks=all,
idempotent, awaited delivery reports). Consuming uses confluent-kafka's `Consumer`
directly: FastStream's subscribers commit per handled message (or per batch), while a
murmur worker keeps many tasks of one partition in flight and may only commit below the
oldest one. Topics are created with confluent's `AdminClient` (on brokers without a
controller, such as librdkafka's mock cluster, through broker-side auto-creation).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from murmur.core.errors import RegistryError, SpawnError
from murmur.transport import BrokerTransport, Subscription, TaskConsumer
from murmur_kafka._consumer import KafkaTaskConsumer
from murmur_kafka._names import partition_for, topic_name
from murmur_kafka._tail import TailReader

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient
    from faststream.confluent import KafkaBroker

__all__ = ["KafkaTransport"]

_CONNECT_TIMEOUT = 5.0
_OP_TIMEOUT = 10.0
_LOGGER = logging.getLogger("murmur.kafka.librdkafka")
_INT_OPTIONS = {
    "partitions": 6,
    "reply_partitions": 6,
    "replication_factor": -1,
    "session_timeout_ms": 0,
    "fetch_wait_max_ms": 100,
    "linger_ms": 1,
}


class KafkaTransport(BrokerTransport["KafkaBroker"]):
    """Tasks on per-agent topics read by consumer groups; replies on a keyed results topic.

    ```python
    runtime = AgentRuntime(broker="kafka://broker-1:9092,broker-2:9092")
    worker = Worker("kafka://broker-1:9092", {"researcher": researcher}, concurrency=20)
    ```

    Concurrency and partitions: a partition belongs to one worker at a time, so at most
    `partitions` workers of an agent receive tasks; inside a worker, up to `concurrency`
    tasks (from any of its partitions) run at once. Order holds per partition on delivery
    only: tasks of one partition run concurrently and finish in any order.

    Args:
        url: `kafka://host:port[,host:port...][?namespace=...&partitions=6...]`.
        namespace: Prefix of every topic and group (overrides the URL's).
        partitions: Partitions of a new task topic (the most workers per agent; default 6).
        reply_partitions: Partitions of the results topic (default 6).
        replication_factor: Of new topics (default -1: the broker's default).
        group_protocol: `classic` (default, any Kafka >= 2.4: cooperative-sticky
            assignment) or `consumer` (KIP-848, Kafka >= 4.0: the broker assigns, no
            stop-the-world rebalances; its session timeout is set on the broker).
        session_timeout_ms: How long a silent (dead) member keeps its partitions with the
            classic protocol (default: the worker's reclaim window, at least 6000).
        fetch_wait_max_ms: Longest a fetch waits on the broker for data (default 100).
        linger_ms: Producer batching delay (default 1).
        config: Extra librdkafka properties for every client (security, SASL, ...).
    """

    scheme = "kafka"

    def __init__(
        self, url: str = "kafka://127.0.0.1:9092", *, namespace: str | None = None, **options: Any
    ) -> None:
        super().__init__(url, namespace=namespace, **options)
        opts = self.options
        try:
            ints = {key: int(opts.pop(key, default)) for key, default in _INT_OPTIONS.items()}
        except (TypeError, ValueError) as exc:
            raise RegistryError(
                f"kafka:// options {', '.join(_INT_OPTIONS)} must be integers ({exc})",
                code="invalid_options",
            ) from None
        self.partitions: int = ints["partitions"]
        self.reply_partitions: int = ints["reply_partitions"]
        self.replication_factor: int = ints["replication_factor"]
        self.session_timeout_ms: int = ints["session_timeout_ms"]
        self.fetch_wait_max_ms: int = ints["fetch_wait_max_ms"]
        self.linger_ms: int = ints["linger_ms"]
        self.group_protocol = str(opts.pop("group_protocol", "classic")).lower()
        if self.group_protocol not in ("classic", "consumer"):
            raise RegistryError(
                f"kafka:// option group_protocol={self.group_protocol!r} must be 'classic' "
                "or 'consumer'",
                code="invalid_options",
            )
        extra = opts.pop("config", None) or {}
        if not isinstance(extra, dict):
            raise RegistryError(
                "KafkaTransport(config=...) must be a dict of librdkafka properties"
            )
        self.extra_config: dict[str, Any] = dict(extra)
        self.bootstrap_servers = urlsplit(url).netloc or "127.0.0.1:9092"
        self._admin: AdminClient | None = None
        self._topics: dict[str, int] = {}  # topic -> partition count
        self._round_robin = itertools.count()
        self._lock = asyncio.Lock()
        self._tail: TailReader | None = None

    # -- configuration ----------------------------------------------------------------

    def _client_config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "logger": _LOGGER,
            **self.extra_config,
        }

    def _group_config(self, agent_name: str, consumer_id: str, reclaim_ms: int) -> dict[str, Any]:
        config = {
            **self._client_config(),
            "group.id": topic_name(self.name("workers", agent_name)),
            "client.id": consumer_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": self.fetch_wait_max_ms,
            "max.poll.interval.ms": 300_000,
        }
        if self.group_protocol == "consumer":
            config["group.protocol"] = "consumer"
        else:
            session = self.session_timeout_ms or max(6000, min(reclaim_ms, 300_000))
            config.update(
                {
                    "partition.assignment.strategy": "cooperative-sticky",
                    "session.timeout.ms": session,
                    "heartbeat.interval.ms": max(100, session // 4),
                }
            )
        return config

    # -- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Start FastStream's producer and an admin client; check the cluster answers."""
        async with self._lock:
            if self._broker is not None:
                return
            from confluent_kafka.admin import AdminClient
            from faststream.confluent import KafkaBroker

            admin = AdminClient(self._client_config())
            try:
                # Shorter than the callers' own connect bound, so this typed error wins.
                await asyncio.wait_for(
                    asyncio.to_thread(admin.list_topics, timeout=_CONNECT_TIMEOUT),
                    _CONNECT_TIMEOUT + 1,
                )
            except Exception as exc:
                raise self.unreachable(exc, hint="start the Kafka cluster") from exc
            broker = KafkaBroker(
                self.bootstrap_servers,
                client_id=f"murmur-{self.namespace}",
                acks="all",
                enable_idempotence=True,
                linger_ms=self.linger_ms,
                config=cast("Any", dict(self.extra_config)),
                logger=None,
            )
            async with asyncio.timeout(_OP_TIMEOUT):
                await broker.connect()
            self._admin, self._broker = admin, broker

    async def _forget_connection(self) -> None:
        tail, self._tail = self._tail, None
        if tail is not None:
            await tail.aclose()
        self._admin = None
        self._topics.clear()

    def _require(self) -> KafkaBroker:
        if self._broker is None:
            raise SpawnError("the Kafka transport is not connected: await transport.connect()")
        return self._broker

    # -- topics -----------------------------------------------------------------------

    async def _ensure_topic(self, topic: str, partitions: int) -> int:
        """Create `topic` if missing; return its partition count."""
        known = self._topics.get(topic)
        if known:
            return known
        admin = self._admin
        if admin is None:
            raise SpawnError("the Kafka transport is not connected: await transport.connect()")
        count = await asyncio.wait_for(
            asyncio.to_thread(self._create_topic, admin, topic, partitions), _OP_TIMEOUT * 3
        )
        self._topics[topic] = count
        return count

    def _create_topic(self, admin: AdminClient, topic: str, partitions: int) -> int:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import NewTopic

        metadata = admin.list_topics(topic=topic, timeout=_OP_TIMEOUT)
        found = metadata.topics.get(topic)
        if found is not None and found.error is None and found.partitions:
            return len(found.partitions)  # exists (or was just auto-created by this request)
        if metadata.controller_id in metadata.brokers:
            futures = admin.create_topics(
                [NewTopic(topic, partitions, self.replication_factor)],
                request_timeout=_OP_TIMEOUT,
            )
            try:
                futures[topic].result(_OP_TIMEOUT)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        for _ in range(50):  # metadata catches up with the creation
            found = admin.list_topics(topic=topic, timeout=_OP_TIMEOUT).topics.get(topic)
            if found is not None and found.error is None and found.partitions:
                return len(found.partitions)
            time.sleep(0.1)
        raise SpawnError(
            f"Kafka topic {topic!r} does not exist and could not be created; create it "
            f"(kafka-topics --create --topic {topic}) or enable auto.create.topics.enable",
            code="broker_error",
        )

    def _task_topic(self, agent_name: str) -> str:
        return topic_name(self.name("tasks", agent_name))

    # -- tasks ------------------------------------------------------------------------

    async def publish_task(self, agent_name: str, data: bytes) -> None:
        """Append the task to the agent's topic (round-robin over its partitions)."""
        broker = self._require()
        topic = self._task_topic(agent_name)
        count = await self._ensure_topic(topic, self.partitions)
        await broker.publish(bytes(data), topic, partition=next(self._round_robin) % count)

    async def consume_tasks(
        self, agent_name: str, *, consumer_id: str, prefetch: int, reclaim_min_idle_ms: int
    ) -> TaskConsumer:
        """Join the agent's consumer group as `consumer_id` (its `client.id`)."""
        self._require()
        topic = self._task_topic(agent_name)
        await self._ensure_topic(topic, self.partitions)
        consumer = KafkaTaskConsumer(
            self._group_config(agent_name, consumer_id, reclaim_min_idle_ms),
            topic=topic,
            agent_name=agent_name,
            prefetch=prefetch,
            reclaim_min_idle_ms=reclaim_min_idle_ms,
        )
        await asyncio.wait_for(consumer.open(), _OP_TIMEOUT)
        self._track_consumer(consumer)
        return consumer

    # -- replies and events -----------------------------------------------------------

    def _reader(self) -> TailReader:
        if self._tail is None:
            self._tail = TailReader(
                {
                    **self._client_config(),
                    "group.id": f"murmur-tail-{uuid.uuid4().hex}",  # required, never joined
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": self.fetch_wait_max_ms,
                }
            )
        return self._tail

    async def _reply_route(self, reply_to: str) -> tuple[str, int]:
        topic = topic_name(self.name("replies"))
        count = await self._ensure_topic(topic, self.reply_partitions)
        return topic, partition_for(reply_to, count)

    async def publish_result(self, reply_to: str, data: bytes) -> None:
        """Append to the caller's partition of the results topic, keyed by `reply_to`."""
        broker = self._require()
        topic, partition = await self._reply_route(reply_to)
        await broker.publish(bytes(data), topic, key=reply_to.encode(), partition=partition)

    async def subscribe_results(self, reply_to: str) -> Subscription:
        """Read the caller's partition from its end, keeping records keyed `reply_to`."""
        self._require()
        topic, partition = await self._reply_route(reply_to)
        return await self._reader().subscribe(topic, partition, reply_to.encode())

    async def publish_event(self, data: bytes) -> None:
        """Append to partition 0 of the events topic."""
        broker = self._require()
        topic = topic_name(self.name("events"))
        await self._ensure_topic(topic, 1)
        await broker.publish(bytes(data), topic, partition=0)

    async def subscribe_events(self) -> Subscription:
        """Read partition 0 of the events topic from its end."""
        self._require()
        topic = topic_name(self.name("events"))
        await self._ensure_topic(topic, 1)
        return await self._reader().subscribe(topic, 0, None)

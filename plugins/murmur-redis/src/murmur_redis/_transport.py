"""`RedisTransport`: murmur's broker seam on Redis Streams (Redis 7.0+).

Layout under the namespace `ns` (URL query `?namespace=`, default `murmur`):

| key | type | what |
|---|---|---|
| `ns:tasks:<agent>` | stream + consumer group `workers` | the agent's task queue |
| `ns:replies:<caller>` | stream (expires) | results and task events for one caller |
| `ns:events` | pub/sub channel (FastStream) | fleet events and cancel requests |
| `ns:workers:<consumer>` | string with TTL | a worker's last heartbeat |
| `ns:nonce:<nonce>` | string with TTL | replay refusal, fleet-wide |

Connections are bounded by design, whatever the callers' `max_concurrency` and however many
runs a transport has served:

- one *command pool* (redis.asyncio `BlockingConnectionPool`, `max_connections` from the URL,
  default 16): XADD, XACK, XCLAIM, SET, ... borrow a connection for one round trip; when all
  are busy a command waits for one (up to `pool_timeout_s`) instead of failing, so a gather
  of 500 runs uses at most 16 connections;
- one dedicated connection per *blocking reader* (the caller's reply stream, each task
  queue a worker consumes), so a blocked `XREAD`/`XREADGROUP` never holds a pool slot;
- a FastStream `RedisBroker`, created on first use, for the pub/sub fleet event channel
  (publishes bounded by a semaphore).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from murmur.core.errors import SpawnError
from murmur.transport import QueueSubscription, Subscription, TaskConsumer, Transport
from murmur_redis._consumer import RedisTaskConsumer, StreamSubscription, ensure_group
from murmur_redis._pipeliner import Pipeliner

if TYPE_CHECKING:
    from faststream.redis import RedisBroker
    from redis.asyncio import Redis

__all__ = ["RedisTransport"]

_OWN_OPTIONS = frozenset(
    {"namespace", "group", "result_ttl_s", "reply_maxlen", "max_connections", "pool_timeout_s"}
)
_EVENT_PUBLISHES = 4
_CONNECT_TIMEOUT_S = 5.0


def server_url(url: str) -> str:
    """`url` without murmur's own query options (what redis-py gets)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in _OWN_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(query)))


class RedisTransport(Transport):
    """Tasks on Redis Streams consumer groups, abandoned entries reclaimed with XAUTOCLAIM.

    Args:
        url: `redis://host:6379/0` or `rediss://...` (TLS); query options `namespace`,
            `group`, `result_ttl_s`, `reply_maxlen` are murmur's, the rest go to redis-py.
        namespace: Prefix of every key.
        group: The consumer group workers join (default `workers`).
        result_ttl_s: How long an unread reply stream lives (default one hour).
        reply_maxlen: Approximate cap on a reply stream's length.
        max_connections: Size of the command pool (blocking readers have their own).
        pool_timeout_s: How long a command waits for a free pooled connection.
    """

    scheme = "redis"

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str | None = None,
        group: str | None = None,
        result_ttl_s: float | None = None,
        reply_maxlen: int | None = None,
        max_connections: int | None = None,
        pool_timeout_s: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(url, namespace=namespace, **options)
        self.group = group or str(self.options.pop("group", "workers"))
        self.result_ttl_s = float(result_ttl_s or self.options.pop("result_ttl_s", 3600))
        self.reply_maxlen = int(reply_maxlen or self.options.pop("reply_maxlen", 100_000))
        self.max_connections = int(max_connections or self.options.pop("max_connections", 16))
        self.pool_timeout_s = float(pool_timeout_s or self.options.pop("pool_timeout_s", 10))
        if self.max_connections < 1:
            raise SpawnError(
                f"{self.safe_url}: max_connections must be >= 1", code="invalid_options"
            )
        self._server_url = server_url(url)
        self._broker: RedisBroker | None = None
        self._broker_lock = asyncio.Lock()
        self._event_slots = asyncio.Semaphore(_EVENT_PUBLISHES)
        self._client: Redis | None = None
        self._pipeliner: Pipeliner | None = None
        self._readers: set[Redis] = set()
        self._epoch: str | None = None
        self._groups: set[str] = set()
        self._subscriptions: list[QueueSubscription] = []

    @property
    def client(self) -> Redis:
        """The redis.asyncio client (after `connect`)."""
        if self._client is None:
            raise SpawnError(
                f"{self!r} is not connected; call await transport.connect() first",
                code="broker_error",
            )
        return self._client

    def _connection_options(self) -> dict[str, Any]:
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        # Named connections: `CLIENT LIST` shows which murmur fleet holds which connection.
        # A connection the server dropped (a restart) is reconnected at once and the command
        # sent again: redis-py's defaults would fail a pooled command outright and back a
        # blocking reader off for seconds (1, 2, 4 s) before it sees the new server.
        return {
            "socket_connect_timeout": _CONNECT_TIMEOUT_S,
            "socket_keepalive": True,
            "client_name": f"murmur:{self.namespace}",
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        }

    async def connect(self) -> None:
        if self._client is not None:
            return
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(
            self._server_url,
            max_connections=self.max_connections,
            timeout=self.pool_timeout_s,
            **self._connection_options(),
        )
        client = Redis(connection_pool=pool)
        try:
            await client.ping()
            self._epoch = await self._read_epoch(client)
        except Exception as exc:
            await client.aclose(close_connection_pool=True)
            raise self.unreachable(exc) from exc
        self._client = client
        self._pipeliner = Pipeliner(client)

    @property
    def pipeliner(self) -> Pipeliner:
        """Coalesces task publishes, results and acks of concurrent runs into pipelines."""
        if self._pipeliner is None:
            raise SpawnError(
                f"{self!r} is not connected; call await transport.connect() first",
                code="broker_error",
            )
        return self._pipeliner

    def reader(self) -> Redis:
        """A new client on one dedicated connection, for one blocking reader.

        It is closed with the transport.
        """
        from redis.asyncio import Redis

        client = Redis.from_url(
            self._server_url, single_connection_client=True, **self._connection_options()
        )
        self._readers.add(client)
        return client

    async def release_reader(self, client: Redis) -> None:
        """Close a reader's connection (its consumer or subscription is done with it)."""
        if client in self._readers:
            self._readers.discard(client)
            with contextlib.suppress(Exception):
                await client.aclose()

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        self._subscriptions.clear()
        readers, self._readers = self._readers, set()
        for reader in readers:
            with contextlib.suppress(Exception):
                await reader.aclose()
        if self._broker is not None:
            broker, self._broker = self._broker, None
            with contextlib.suppress(Exception):
                await broker.stop()
        if self._pipeliner is not None:
            pipeliner, self._pipeliner = self._pipeliner, None
            await pipeliner.aclose()
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(Exception):
                await client.aclose(close_connection_pool=True)  # ours: close its connections

    async def _events_broker(self) -> RedisBroker:
        async with self._broker_lock:
            if self._broker is None:
                from faststream.redis import RedisBroker

                quiet: Any = None  # FastStream's own logging off: murmur emits events instead
                broker = RedisBroker(
                    self._server_url, logger=quiet, max_connections=_EVENT_PUBLISHES + 2
                )
                try:
                    await broker.connect()
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        await broker.stop()
                    raise self.unreachable(exc) from exc
                self._broker = broker
            return self._broker

    # -- broker state -------------------------------------------------------------------

    @staticmethod
    async def _read_epoch(client: Redis) -> str | None:
        info: Any = await client.info("server")
        run_id = info.get("run_id") if isinstance(info, dict) else None
        return str(run_id) if run_id else None

    async def epoch(self) -> str | None:
        """The Redis server's `run_id`: it changes when the server restarts.

        A server that keeps nothing on disk has then lost every queued task.
        """
        self._epoch = await self._read_epoch(self.client)
        return self._epoch

    # -- tasks ------------------------------------------------------------------------

    async def publish_task(self, agent_name: str, data: bytes) -> None:
        stream = self.name("tasks", agent_name)
        await self.pipeliner.run(lambda pipe: pipe.xadd(stream, {"d": data}), 1)

    async def consume_tasks(
        self, agent_name: str, *, consumer_id: str, prefetch: int, reclaim_min_idle_ms: int
    ) -> TaskConsumer:
        stream = self.name("tasks", agent_name)
        if stream not in self._groups:
            await ensure_group(self.client, stream, self.group)
            self._groups.add(stream)
        return RedisTaskConsumer(
            self.client,
            self.reader(),
            self.pipeliner,
            release=self.release_reader,
            stream=stream,
            group=self.group,
            consumer_id=consumer_id,
            agent_name=agent_name,
            reclaim_min_idle_ms=reclaim_min_idle_ms,
        )

    # -- results ----------------------------------------------------------------------

    async def publish_result(self, reply_to: str, data: bytes) -> None:
        stream = self.name("replies", reply_to)
        maxlen, ttl = self.reply_maxlen, int(self.result_ttl_s)

        def queue(pipe: Any) -> None:
            pipe.xadd(stream, {"d": data}, maxlen=maxlen, approximate=True)
            pipe.expire(stream, ttl)

        await self.pipeliner.run(queue, 2)

    async def subscribe_results(self, reply_to: str) -> Subscription:
        subscription = StreamSubscription(
            self.client,
            self.reader(),
            self.name("replies", reply_to),
            release=self.release_reader,
        )
        self._subscriptions.append(subscription)
        return subscription

    # -- fleet events (FastStream pub/sub) --------------------------------------------

    async def publish_event(self, data: bytes) -> None:
        broker = await self._events_broker()
        async with self._event_slots:
            await broker.publish(data, channel=self.name("events"))

    async def subscribe_events(self) -> Subscription:
        broker = await self._events_broker()
        subscriber = broker.subscriber(channel=self.name("events"), persistent=False)

        async def stop() -> None:
            with contextlib.suppress(Exception):
                await subscriber.stop()

        subscription = QueueSubscription(on_close=stop)
        from faststream.redis import RedisMessage

        async def handle(message: RedisMessage) -> None:
            # The raw body: FastStream would decode a JSON body into a dict otherwise.
            subscription.put(bytes(message.body))

        handle.__annotations__["message"] = RedisMessage  # resolved without module globals

        subscriber(handle)
        await subscriber.start()
        self._subscriptions.append(subscription)
        return subscription

    # -- liveness and replay refusal --------------------------------------------------

    async def heartbeat(self, consumer_id: str, info: dict[str, Any], ttl_s: float) -> None:
        await self.client.set(
            self.name("workers", consumer_id),
            json.dumps(info, default=str),
            px=max(1, int(ttl_s * 1000)),
        )

    async def claim_nonce(self, nonce: str, message_id: str, *, ttl_s: float) -> bool:
        """Fleet-wide: `SET ns:nonce:<nonce> <message_id> NX GET PX ttl` (Redis 7.0+)."""
        previous = await self.client.set(
            self.name("nonce", nonce),
            message_id,
            nx=True,
            get=True,
            px=max(1, int(ttl_s * 1000)),
        )
        if previous is None:
            return True
        seen = previous.decode() if isinstance(previous, bytes) else str(previous)
        return seen == message_id

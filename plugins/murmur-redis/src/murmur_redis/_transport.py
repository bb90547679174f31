"""`RedisTransport`: murmur's broker seam on Redis Streams (Redis 7.0+).

Layout under the namespace `ns` (URL query `?namespace=`, default `murmur`):

| key | type | what |
|---|---|---|
| `ns:tasks:<agent>` | stream + consumer group `workers` | the agent's task queue |
| `ns:replies:<caller>` | stream (expires) | results and task events for one caller |
| `ns:events` | pub/sub channel (FastStream) | fleet events and cancel requests |
| `ns:workers:<consumer>` | string with TTL | a worker's last heartbeat |
| `ns:nonce:<nonce>` | string with TTL | replay refusal, fleet-wide |

A FastStream `RedisBroker` owns the connection pool and the pub/sub fleet channel; stream
commands go through its redis.asyncio client (see `murmur_redis._consumer` for why).
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from murmur.core.errors import SpawnError
from murmur.transport import QueueSubscription, Subscription, TaskConsumer, Transport
from murmur_redis._consumer import RedisTaskConsumer, StreamSubscription, ensure_group

if TYPE_CHECKING:
    from faststream.redis import RedisBroker
    from redis.asyncio import Redis

__all__ = ["RedisTransport"]

_OWN_OPTIONS = frozenset({"namespace", "group", "result_ttl_s", "reply_maxlen"})


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
        **options: Any,
    ) -> None:
        super().__init__(url, namespace=namespace, **options)
        self.group = group or str(self.options.pop("group", "workers"))
        self.result_ttl_s = float(result_ttl_s or self.options.pop("result_ttl_s", 3600))
        self.reply_maxlen = int(reply_maxlen or self.options.pop("reply_maxlen", 100_000))
        self._server_url = server_url(url)
        self._broker: RedisBroker | None = None
        self._client: Redis | None = None
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

    async def connect(self) -> None:
        if self._client is not None:
            return
        from faststream.redis import RedisBroker

        quiet: Any = None  # FastStream's own logging off: murmur emits events instead
        self._broker = RedisBroker(self._server_url, logger=quiet)
        try:
            self._client = await self._broker.connect()
            await self._client.ping()
        except Exception as exc:
            self._client = None
            raise SpawnError(
                f"cannot reach Redis at {self._server_url}: {exc}; is it running?",
                code="broker_error",
                details={"transient": True},
            ) from exc

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.aclose()
        self._subscriptions.clear()
        if self._broker is not None:
            broker, self._broker, self._client = self._broker, None, None
            await broker.stop()

    # -- tasks ------------------------------------------------------------------------

    async def publish_task(self, agent_name: str, data: bytes) -> None:
        await self.client.xadd(self.name("tasks", agent_name), {"d": data})

    async def consume_tasks(
        self, agent_name: str, *, consumer_id: str, prefetch: int, reclaim_min_idle_ms: int
    ) -> TaskConsumer:
        stream = self.name("tasks", agent_name)
        if stream not in self._groups:
            await ensure_group(self.client, stream, self.group)
            self._groups.add(stream)
        return RedisTaskConsumer(
            self.client,
            stream=stream,
            group=self.group,
            consumer_id=consumer_id,
            agent_name=agent_name,
            reclaim_min_idle_ms=reclaim_min_idle_ms,
        )

    # -- results ----------------------------------------------------------------------

    async def publish_result(self, reply_to: str, data: bytes) -> None:
        stream = self.name("replies", reply_to)
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(stream, {"d": data}, maxlen=self.reply_maxlen, approximate=True)
        pipe.expire(stream, int(self.result_ttl_s))
        await pipe.execute()

    async def subscribe_results(self, reply_to: str) -> Subscription:
        subscription = StreamSubscription(self.client, self.name("replies", reply_to))
        self._subscriptions.append(subscription)
        return subscription

    # -- fleet events (FastStream pub/sub) --------------------------------------------

    async def publish_event(self, data: bytes) -> None:
        if self._broker is None:
            await self.connect()
        assert self._broker is not None
        await self._broker.publish(data, channel=self.name("events"))

    async def subscribe_events(self) -> Subscription:
        if self._broker is None:
            await self.connect()
        assert self._broker is not None
        subscriber = self._broker.subscriber(channel=self.name("events"), persistent=False)

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

"""The Redis Streams consumer-group side of `RedisTransport`.

Commands, per `TaskConsumer` method (one consumer group, `workers` by default, per agent
stream; entries are deleted once acked, so streams stay small):

| method | Redis |
|---|---|
| `receive` | `XREADGROUP GROUP g c COUNT n BLOCK ms STREAMS key >` |
| `ack` | `XACK` + `XDEL` (pipelined) |
| `nack` | `XCLAIM ... IDLE <window>`: still pending, but reclaimable at once |
| `reclaim` | `XAUTOCLAIM key g c <window> <cursor> COUNT n` (+ `XPENDING` for delivery counts) |
| `touch` | `XCLAIM key g c 0 id JUSTID`: resets the idle time, not the count |

Why redis.asyncio and not a FastStream stream subscriber here: the worker pulls exactly as
many entries as it has free slots (FastStream's subscriber is push-based with a fixed batch
size), and FastStream has no API to reset an entry's idle time (touch) or to hand an entry
back (nack). Blocking reads (`XREADGROUP BLOCK`, the reply stream's `XREAD BLOCK`) run on a
dedicated connection of their own; every other command borrows one from the transport's
bounded command pool.

A stream or consumer group that disappears (a restart of a Redis that keeps nothing on
disk, a `FLUSHDB`, a namespace cleanup) is recreated on the next command that finds it
missing (`NOGROUP`), so a worker goes on serving new tasks by itself.

An entry without a payload field is handed to the worker as an empty delivery, which the
worker rejects, counts and acks like any other undecodable entry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from murmur.transport import Delivery, QueueSubscription, TaskConsumer

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from murmur_redis._pipeliner import Pipeliner

__all__ = ["RedisTaskConsumer", "StreamSubscription", "ensure_group"]

log = structlog.get_logger("murmur.redis")

_FIELD = b"d"

Release = Callable[["Redis"], Awaitable[None]]
"""Gives a blocking reader's dedicated connection back to the transport (closes it)."""
_TRIM_EVERY = 256


async def ensure_group(client: Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing.

    It starts at the stream's beginning, so tasks published before the first worker are delivered.
    """
    from redis.exceptions import ResponseError

    try:
        await client.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _data(fields: Any) -> bytes | None:
    """The payload of an entry; None for an entry deleted while pending.

    b"" for an entry that exists but carries no payload field (garbage written by someone else).
    """
    if fields is None:
        return None
    value = fields.get(_FIELD) if isinstance(fields, dict) else None
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode()


def _missing_group(exc: BaseException) -> bool:
    return "NOGROUP" in str(exc)


def _id(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class RedisTaskConsumer(TaskConsumer):
    """One consumer (`consumer_id`) in the group of one agent stream."""

    def __init__(
        self,
        client: Redis,
        reader: Redis,
        pipeliner: Pipeliner,
        *,
        release: Release | None = None,
        stream: str,
        group: str,
        consumer_id: str,
        agent_name: str,
        reclaim_min_idle_ms: int,
    ) -> None:
        self._client = client
        self._reader = reader
        self._release = release
        self._pipeliner = pipeliner
        self._stream = stream
        self._group = group
        self._consumer = consumer_id
        self._agent = agent_name
        self._min_idle = reclaim_min_idle_ms
        self._cursor = "0-0"
        self._closed = False

    async def receive(self, max_messages: int, timeout: float) -> list[Delivery]:  # noqa: ASYNC109
        if self._closed or max_messages < 1:
            return []
        try:
            response: Any = await self._reader.xreadgroup(
                self._group,
                self._consumer,
                {self._stream: ">"},
                count=max_messages,
                block=max(1, int(timeout * 1000)),
            )
        except Exception as exc:
            if not _missing_group(exc):
                raise
            await self._recreate_group()
            return []
        out: list[Delivery] = []
        for _stream, entries in response or ():
            for raw_id, fields in entries:
                message_id = _id(raw_id)
                data = _data(fields)
                if data is None:  # trimmed while pending: nothing to run
                    await self._settle(message_id)
                    continue
                out.append(Delivery(data, message_id, self._agent, 1, handle=message_id))
        return out

    async def _recreate_group(self) -> None:
        """The stream or group vanished (a restart without persistence, a flush): make them again.

        Tasks published since are read from the stream's start.
        """
        log.warning("consumer group missing; recreating it", stream=self._stream)
        await ensure_group(self._client, self._stream, self._group)

    async def _settle(self, message_id: str) -> None:
        stream, group = self._stream, self._group

        def queue(pipe: Any) -> None:
            pipe.xack(stream, group, message_id)
            pipe.xdel(stream, message_id)

        await self._pipeliner.run(queue, 2)

    async def ack(self, delivery: Delivery) -> None:
        await self._settle(delivery.message_id)

    async def nack(self, delivery: Delivery) -> None:
        await self._client.xclaim(
            self._stream,
            self._group,
            self._consumer,
            0,
            [delivery.message_id],
            idle=self._min_idle,
            justid=True,
        )

    async def reclaim(self, max_messages: int) -> list[Delivery]:
        if self._closed or max_messages < 1:
            return []
        try:
            response: Any = await self._client.xautoclaim(
                self._stream,
                self._group,
                self._consumer,
                self._min_idle,
                start_id=self._cursor,
                count=max_messages,
            )
        except Exception as exc:
            if not _missing_group(exc):
                raise
            self._cursor = "0-0"
            await self._recreate_group()
            return []
        cursor, entries = response[0], response[1]
        self._cursor = _id(cursor)
        out: list[Delivery] = []
        for raw_id, fields in entries:
            message_id = _id(raw_id)
            data = _data(fields)
            if data is None:
                await self._settle(message_id)
                continue
            out.append(Delivery(data, message_id, self._agent, 2, handle=message_id))
        if out:
            await self._delivery_counts(out)
        return out

    async def _delivery_counts(self, deliveries: list[Delivery]) -> None:
        pending: Any = await self._client.xpending_range(
            self._stream,
            self._group,
            min=deliveries[0].message_id,
            max=deliveries[-1].message_id,
            count=len(deliveries) * 2,
            consumername=self._consumer,
        )
        counts = {_id(p["message_id"]): int(p["times_delivered"]) for p in pending}
        for delivery in deliveries:
            delivery.delivery_count = max(2, counts.get(delivery.message_id, 2))

    async def touch(self, delivery: Delivery) -> None:
        await self._client.xclaim(
            self._stream, self._group, self._consumer, 0, [delivery.message_id], justid=True
        )

    async def close(self) -> None:
        # Pending entries stay with this consumer id: a restart under the same id, or any
        # other consumer after the idle window, takes them over.
        self._closed = True
        if self._release is not None:
            await self._release(self._reader)


class StreamSubscription(QueueSubscription):
    """A reply channel: one stream read with `XREAD BLOCK` from its beginning.

    The channel is new and private to its caller; it is trimmed as it is read, deleted on close.
    """

    def __init__(
        self,
        client: Redis,
        reader: Redis,
        stream: str,
        *,
        block_ms: int = 250,
        release: Release | None = None,
    ) -> None:
        super().__init__(on_close=self._stop)
        self._client = client
        self._reader = reader
        self._release = release
        self._stream = stream
        self._block_ms = block_ms
        self._stopping = False
        self._task = asyncio.create_task(self._pump(), name=f"murmur-redis-xread-{stream}")

    async def _pump(self) -> None:
        last = "0-0"
        untrimmed = 0
        backoff = 0.05
        while not self._stopping:
            try:
                response: Any = await self._reader.xread(
                    {self._stream: last}, count=512, block=self._block_ms
                )
            except asyncio.CancelledError:
                raise
            except Exception:  # connection blip: retry, the stream keeps what we missed
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            got = 0
            for _stream, entries in response or ():
                for raw_id, fields in entries:
                    got += 1
                    last = _id(raw_id)
                    data = _data(fields)
                    if data is not None:
                        self.put(data)
            untrimmed += got
            # Trim what was read off the hot path: in batches, or once the channel is idle.
            if untrimmed >= _TRIM_EVERY or (untrimmed and not got):
                untrimmed = 0
                with contextlib.suppress(Exception):
                    await self._client.xtrim(self._stream, minid=last, approximate=False)

    async def _stop(self) -> None:
        # Let the blocking XREAD return by itself: cancelling redis-py mid-command can hang.
        self._stopping = True
        _, pending = await asyncio.wait([self._task], timeout=self._block_ms / 1000 + 2)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._client.delete(self._stream), 5)
        if self._release is not None:
            await self._release(self._reader)

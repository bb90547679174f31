"""Redis run and event stores, shared by a whole fleet: `AgentRuntime(store="redis://...")`.

Every key starts with a prefix (`?prefix=`, default `murmur:store:`):

```
{p}schema_version          STRING  layout version ("1")
{p}run:{run_id}            HASH    json, status, agent, parent, kind
{p}runs:all                ZSET    run ids scored by created_at
{p}runs:status:{status}    ZSET    (same, per status; also :agent:, :parent:, :kind:)
{p}ckpt:{run_id}           HASH    checkpoint key -> JSON
{p}ev:seq                  STRING  last event sequence number (INCR)
{p}ev:data                 HASH    seq -> RuntimeEvent JSON
{p}ev:ids                  HASH    event id -> seq
{p}ev:all                  ZSET    seqs scored by seq (append order)
{p}ev:time                 ZSET    seqs scored by timestamp
{p}ev:trace:{trace_id}     ZSET    seqs scored by seq (also :parent:, :agent:, :type:)
```

Writes go through murmur's `WriteBuffer` and are written by one Lua script per batch (one
round trip). The script checks the type of every key it will touch before it writes
anything, so a batch is written whole or not at all (a key of the wrong type under the
prefix fails the batch with `store_corrupt` and writes nothing). Run records and
checkpoints are in Redis when `put` / `put_checkpoint` return; events follow in the next
batch (by size, `flush_interval`, with the next run record, before every read, on close,
and at interpreter exit for a store that was never closed).
"""

from __future__ import annotations

import builtins
import heapq
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from murmur.core.errors import RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import EventQuery, EventStore, RunRecord, RunStatus, RunStore, Stores
from murmur_redis._store_client import REDIS_STORE_SCHEMA_VERSION, RedisStoreClient, safe_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "REDIS_STORE_SCHEMA_VERSION",
    "RedisEventStore",
    "RedisRunStore",
    "RedisStoreClient",
    "redis_store_factory",
]
_OPTIONS: dict[str, type] = {
    "prefix": str,
    "batch_size": int,
    "flush_interval": float,
    "timeout": float,
}
_CHUNK = 500


def redis_store_factory(url: str) -> Stores:
    """Entry point `murmur.stores:redis` / `rediss`: run and event stores on one server.

    `redis://host:6379/0?prefix=myapp:` keeps every key under `myapp:`; `batch_size`,
    `flush_interval` and `timeout` tune the write buffer; other query options go to redis-py.
    The connection opens on first use.

    Raises:
        RegistryError: code `"invalid_url"` for a bad option.
    """
    parts = urlsplit(url)
    ours: dict[str, Any] = {}
    theirs: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query):
        kind = _OPTIONS.get(key)
        if kind is None:
            theirs.append((key, value))
            continue
        try:
            ours[key] = kind(value)
        except ValueError:
            raise RegistryError(
                f"option {key}={value!r} in {safe_url(url)} must be a {kind.__name__}",
                code="invalid_url",
            ) from None
    redis_url = urlunsplit(parts._replace(query=urlencode(theirs)))
    client = RedisStoreClient(redis_url, **ours)
    return Stores(runs=RedisRunStore(client), events=RedisEventStore(client))


class _UsesClient:
    def __init__(self, client: RedisStoreClient | str = "redis://127.0.0.1:6379/0", **options: Any):
        self.client = (
            client if isinstance(client, RedisStoreClient) else RedisStoreClient(client, **options)
        )
        self.client.acquire()
        self._released = False

    async def flush(self) -> None:
        """Write buffered writes now."""
        await self.client.flush()

    async def aclose(self) -> None:
        """Flush and release the client (closed with its last store). Safe to call twice."""
        if not self._released:
            self._released = True
            await self.client.release()


class RedisRunStore(_UsesClient, RunStore):
    """Runs and checkpoints in Redis, shared by every process using the same prefix.

    Args:
        client: a `RedisStoreClient` shared with an event store, or a Redis URL.
        **options: `RedisStoreClient` options when `client` is a URL.
    """

    async def __aenter__(self) -> Self:
        await self.client.client()
        return self

    async def put(self, record: RunRecord) -> None:
        """Insert or replace a run; it is in Redis when this returns.

        Raises:
            RegistryError: `"not_json"`, or the store's error when it cannot be written
                (`"store_unavailable"`, `"store_corrupt"`, `"store_timeout"`, ...).
        """
        await self.client.add_run(record)

    async def put_soon(self, record: RunRecord) -> None:
        """Buffer a starting run's record for the next batch (this process reads it at
        once)."""
        await self.client.buffer_run(record)

    async def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        pending = self.client.pending_run(run_id)
        if pending is not None:
            return pending
        redis = await self.client.client()
        async with self.client.guard("a read"):
            raw = await redis.hget(self.client.prefix + "run:" + run_id, "json")
        return None if raw is None else RunRecord.model_validate_json(raw)

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        agent_name: str | None = None,
        parent_trace_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord]:
        """Runs matching every given filter, newest first."""
        if limit <= 0:
            return []
        p = self.client.prefix
        keys = [
            f"{p}runs:{field}:{value}"
            for field, value in (
                ("parent", parent_trace_id),
                ("agent", agent_name),
                ("status", None if status is None else RunStatus(status).value),
                ("kind", kind),
            )
            if value is not None
        ] or [p + "runs:all"]
        redis = await self.client.ready()
        temp = f"{p}tmp:{time.time_ns()}:{id(self)}"
        start = max(offset, 0)
        async with self.client.guard("a run listing"):
            rows = await self.client._scripts["list"](
                keys=[temp, *keys], args=[start, start + limit - 1, p], client=redis
            )
        return [RunRecord.model_validate_json(row) for row in rows if row]

    async def put_checkpoint(self, run_id: str, key: str, value: Any) -> None:
        """Save one checkpoint; it is in Redis when this returns.

        Raises:
            RegistryError: code `"not_json"` when `value` cannot be stored as JSON.
        """
        from pydantic_core import PydanticSerializationError, to_json

        try:
            data = to_json(value).decode()
        except PydanticSerializationError as exc:
            raise RegistryError(
                f"a checkpoint must be JSON-serialisable: {exc}", code="not_json"
            ) from exc
        await self.client.add_checkpoint(run_id, key, data)

    async def checkpoints(self, run_id: str) -> dict[str, Any]:
        """Every checkpoint of `run_id`, by key."""
        redis = await self.client.ready()
        async with self.client.guard("a read"):
            raw = await redis.hgetall(self.client.prefix + "ckpt:" + run_id)
        return {key: json.loads(value) for key, value in cast("dict[str, str]", raw).items()}


class RedisEventStore(_UsesClient, EventStore):
    """Events in Redis in append order, indexed by trace, parent, agent, type and time,
    shared by every process using the same prefix.

    Args:
        client: a `RedisStoreClient` shared with a run store, or a Redis URL.
        **options: `RedisStoreClient` options when `client` is a URL.
    """

    async def __aenter__(self) -> Self:
        await self.client.client()
        return self

    async def append(self, event: RuntimeEvent) -> None:
        """Store one event (buffered; every later query sees it)."""
        await self.client.add_events((event,))

    async def append_many(self, events: Sequence[RuntimeEvent]) -> None:
        """Store several events in order, in one batch. Events already stored (same id)
        are skipped."""
        if events:
            await self.client.add_events(events)

    async def query(self, query: EventQuery | None = None) -> list[RuntimeEvent]:
        """Events matching `query` in append order; `after_id` resumes after that event."""
        q = query or EventQuery()
        redis = await self.client.ready()
        p = self.client.prefix
        after = 0
        if q.after_id is not None:
            async with self.client.guard("a read"):
                raw = await redis.hget(p + "ev:ids", q.after_id)
            after = int(raw) if raw else 0
        out: list[RuntimeEvent] = []
        if q.limit is not None and q.limit <= 0:
            return out
        async for chunk in self._candidates(redis, q, after):
            for event in await self._fetch(redis, chunk):
                if q.matches(event):
                    out.append(event)
                    if q.limit is not None and len(out) >= q.limit:
                        return out
        return out

    async def children_events(self, parent_trace_ids: Sequence[str]) -> list[RuntimeEvent]:
        """Events of the runs spawned by `parent_trace_ids` (indexed)."""
        redis = await self.client.ready()
        p = self.client.prefix
        keys = [f"{p}ev:parent:{t}" for t in dict.fromkeys(parent_trace_ids)]
        seqs = await self._union(redis, keys, 0)
        out: list[RuntimeEvent] = []
        for start in range(0, len(seqs), _CHUNK):
            out.extend(await self._fetch(redis, seqs[start : start + _CHUNK]))
        return out

    async def _candidates(
        self, redis: Redis, q: EventQuery, after: int
    ) -> AsyncIterator[list[int]]:
        """Chunks of ascending sequence numbers (> after) from the narrowest index;
        `matches` applies the remaining filters."""
        p = self.client.prefix
        keys: builtins.list[str] = []
        if q.trace_id is not None:
            single: str | None = f"{p}ev:trace:{q.trace_id}"
        elif q.trace_ids is not None:
            single = None
            keys = [f"{p}ev:trace:{t}" for t in dict.fromkeys(q.trace_ids)]
        elif q.agent_name is not None:
            single = f"{p}ev:agent:{q.agent_name}"
        elif q.event_types is not None:
            single = None
            keys = [f"{p}ev:type:{t}" for t in dict.fromkeys(str(t) for t in q.event_types)]
        elif q.since is not None or q.until is not None:
            single = None
        else:
            single = p + "ev:all"
        if single is not None:
            low = after
            while True:
                async with self.client.guard("a read"):
                    page = await redis.zrangebyscore(single, f"({low}", "+inf", start=0, num=_CHUNK)
                if not page:
                    return
                seqs = [int(cast("str", s)) for s in page]
                yield seqs
                low = seqs[-1]
            return
        if keys:
            seqs = await self._union(redis, keys, after)
        else:
            low = "-inf" if q.since is None else repr(q.since)
            high = "+inf" if q.until is None else repr(q.until)
            async with self.client.guard("a read"):
                page = await redis.zrangebyscore(p + "ev:time", low, high)
            seqs = sorted(s for s in (int(cast("str", v)) for v in page) if s > after)
        for start in range(0, len(seqs), _CHUNK):
            yield seqs[start : start + _CHUNK]

    async def _union(self, redis: Redis, keys: builtins.list[str], after: int) -> list[int]:
        if not keys:
            return []
        async with self.client.guard("a read"), redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrangebyscore(key, f"({after}", "+inf")
            pages = await pipe.execute()
        merged = heapq.merge(*([int(s) for s in page] for page in pages))
        return list(dict.fromkeys(merged))

    async def _fetch(self, redis: Redis, seqs: Sequence[int]) -> list[RuntimeEvent]:
        if not seqs:
            return []
        async with self.client.guard("a read"):
            bodies = await redis.hmget(self.client.prefix + "ev:data", list(seqs))
        return [RuntimeEvent.from_json(body) for body in bodies if body is not None]

"""`RedisEventStore`: events in Redis in append order, shared by a whole fleet.

```
{p}ev:seq                  STRING  last event sequence number (INCR)
{p}ev:data                 HASH    seq -> RuntimeEvent JSON
{p}ev:ids                  HASH    event id -> seq
{p}ev:all                  ZSET    seqs scored by seq (append order)
{p}ev:time                 ZSET    seqs scored by timestamp
{p}ev:trace:{trace_id}     ZSET    seqs scored by seq (also :parent:, :agent:, :type:)
```

Events are buffered by the shared `RedisStoreClient` and follow in its next batch (by
size, `flush_interval`, with the next run record, before every read, on close, and at
interpreter exit for a store that was never closed).
"""

from __future__ import annotations

import builtins
import heapq
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, cast

from murmur.events import RuntimeEvent
from murmur.runs import EventQuery, EventStore
from murmur_redis._store_client import UsesStoreClient

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisEventStore"]

_CHUNK = 500


class RedisEventStore(UsesStoreClient, EventStore):
    """Events in Redis in append order, indexed by trace, parent, agent, type and time.

    They are shared by every process using the same prefix.

    Args:
        client: a `RedisStoreClient` shared with a run store, or a Redis URL.
        **options: `RedisStoreClient` options when `client` is a URL.
    """

    async def append(self, event: RuntimeEvent) -> None:
        """Store one event (buffered; every later query sees it)."""
        await self.client.add_events((event,))

    async def append_many(self, events: Sequence[RuntimeEvent]) -> None:
        """Store several events in order, in one batch.

        Events already stored (same id) are skipped.
        """
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
        """Chunks of ascending sequence numbers (> after) from the narrowest index.

        `matches` applies the remaining filters.
        """
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

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

import asyncio
import atexit
import builtins
import contextlib
import functools
import heapq
import json
import sys
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Self, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from murmur.core.errors import MurmurError, RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import (
    Batch,
    EventQuery,
    EventStore,
    RunRecord,
    RunStatus,
    RunStore,
    Stores,
    WriteBuffer,
    encode_event,
    encode_record,
)
from murmur_redis._store_scripts import FLUSH_SCRIPT, LIST_RUNS_SCRIPT

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "REDIS_STORE_SCHEMA_VERSION",
    "RedisEventStore",
    "RedisRunStore",
    "RedisStoreClient",
    "redis_store_factory",
]

REDIS_STORE_SCHEMA_VERSION = 1
"""The key-layout version these stores write and read."""

_OPTIONS: dict[str, type] = {
    "prefix": str,
    "batch_size": int,
    "flush_interval": float,
    "timeout": float,
}
_CHUNK = 500


def _opt(value: str | None) -> str:
    return "" if value is None else value


RunRow = tuple[str, str, str, str, str, str, str]
CheckpointRow = tuple[str, str, str]
EventRow = tuple[str, str, str, str, str, str, str]


def _run_row(record: RunRecord) -> RunRow:
    return (
        record.run_id,
        encode_record(record),
        repr(record.created_at),
        record.status.value,
        _opt(record.agent_name),
        _opt(record.parent_trace_id),
        record.kind,
    )


def _event_row(e: RuntimeEvent) -> EventRow:
    return (
        e.id,
        encode_event(e),
        repr(e.timestamp),
        _opt(e.trace_id),
        _opt(e.parent_trace_id),
        _opt(e.agent_name),
        e.event_type.value,
    )


class RedisStoreClient:
    """One Redis connection pool and write buffer shared by a run store and an event store.

    Args:
        url: a `redis://` or `rediss://` URL (without murmur's options).
        prefix: what every key starts with; one prefix is one store.
        batch_size: buffered writes that trigger a flush.
        flush_interval: seconds a buffered write may wait before it is flushed.
        timeout: seconds any one Redis operation may take.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "murmur:store:",
        batch_size: int = 500,
        flush_interval: float = 0.05,
        timeout: float = 10.0,
    ) -> None:
        if batch_size < 1 or flush_interval < 0 or timeout <= 0:
            raise RegistryError(
                "Redis store options: batch_size must be >= 1, flush_interval >= 0, timeout > 0",
                code="invalid_options",
            )
        self.url, self.prefix = url, prefix
        self.batch_size, self.flush_interval, self.timeout = batch_size, flush_interval, timeout
        self._client: Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._open_lock = asyncio.Lock()
        self._buffer: WriteBuffer[RunRow, CheckpointRow, EventRow] = WriteBuffer(
            self._write_batch,
            name=f"redis:{prefix}",
            batch_size=batch_size,
            flush_interval=flush_interval,
        )
        self._users = 0
        self._closed = False
        self._exit_hook = functools.partial(_flush_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"RedisStoreClient(prefix={self.prefix!r})"

    # -- lifecycle ----------------------------------------------------------------------

    def acquire(self) -> None:
        """Count one more store using this client."""
        self._users += 1

    async def release(self) -> None:
        """One store is done: flush, and close when it was the last."""
        self._users -= 1
        if self._users <= 0:
            await self.aclose()
        elif self._client is not None:
            await self.flush()

    async def aclose(self) -> None:
        """Flush buffered writes and close the connection pool. Safe to call twice."""
        if self._closed:
            return
        try:
            if self._client is not None or self._buffer.has_pending():
                await self._buffer.aclose()
        finally:
            self._closed = True
            self._buffer.closed = True
            atexit.unregister(self._exit_hook)
            client, self._client = self._client, None
            if client is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.aclose(), self.timeout)

    async def client(self) -> Redis:
        """The connected client, checking the layout version on first use.

        Raises:
            RegistryError: code `"store_unavailable"`, `"store_timeout"`,
                `"store_schema_newer"`, `"store_corrupt"` or `"store_closed"`.
        """
        if self._client is not None:
            return self._client
        if self._closed:
            raise RegistryError(f"the Redis store {self!r} is closed", code="store_closed")
        async with self._open_lock:
            if self._client is None:
                self._client = await self._connect()
        return self._client

    async def _connect(self) -> Redis:
        from redis.asyncio import from_url

        client = from_url(
            self.url,
            decode_responses=True,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
        )
        try:
            async with self.guard("connect"):
                # Read only: the version is written by the first batch, inside its script.
                key = self.prefix + "schema_version"
                raw = await client.get(key)
            try:
                found = REDIS_STORE_SCHEMA_VERSION if raw is None else int(cast("str", raw))
            except (TypeError, ValueError):
                raise _corrupt(self.prefix, f"{key} holds {raw!r}, not a version") from None
            if found > REDIS_STORE_SCHEMA_VERSION:
                raise RegistryError(
                    f"the Redis store under prefix {self.prefix!r} has layout version {found}, "
                    f"newer than the {REDIS_STORE_SCHEMA_VERSION} this murmur-redis "
                    "understands; murmur left it untouched: upgrade murmur-redis",
                    code="store_schema_newer",
                    details={"found": found, "supported": REDIS_STORE_SCHEMA_VERSION},
                )
            self._scripts = {
                "flush": client.register_script(FLUSH_SCRIPT),
                "list": client.register_script(LIST_RUNS_SCRIPT),
            }
        except BaseException:
            with contextlib.suppress(Exception):
                await client.aclose()
            raise
        atexit.register(self._exit_hook)
        return client

    @contextlib.asynccontextmanager
    async def guard(self, action: str) -> AsyncGenerator[None, None]:
        """Bound an operation by `timeout`; turn Redis errors into `RegistryError`s."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError, ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        try:
            async with asyncio.timeout(self.timeout):
                yield
        except MurmurError:
            raise
        except (TimeoutError, RedisTimeoutError) as exc:
            raise RegistryError(
                f"the Redis store did not finish {action} within {self.timeout}s; check the "
                "server (raise ?timeout= in the store URL for slow links)",
                code="store_timeout",
                details={"action": action},
            ) from exc
        except (RedisConnectionError, OSError) as exc:
            raise RegistryError(
                f"cannot reach the Redis store at {_safe_url(self.url)} during {action}: {exc}; "
                "is the server running and the URL right?",
                code="store_unavailable",
                details={"action": action},
            ) from exc
        except ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                raise _corrupt(self.prefix, str(exc)) from exc
            raise RegistryError(
                f"the Redis store failed during {action}: {exc}",
                code="store_error",
                details={"action": action},
            ) from exc
        except RedisError as exc:
            raise RegistryError(
                f"the Redis store failed during {action}: {type(exc).__name__}: {exc}",
                code="store_error",
                details={"action": action},
            ) from exc

    # -- buffered writes ----------------------------------------------------------------

    async def add_run(self, record: RunRecord) -> None:
        """Write a run upsert; it is in Redis when this returns.

        Raises:
            RegistryError: `"not_json"` (nothing written), or the store's error for the
                batch that held it (`"store_unavailable"`, `"store_corrupt"`, ...).
        """
        row = _run_row(record)
        await self.client()
        await self._buffer.write_run(record.run_id, row)

    async def buffer_run(self, record: RunRecord) -> None:
        """Buffer a run upsert for the next batch (a starting run's record).

        Raises:
            RegistryError: `"not_json"`, or the server cannot be reached.
        """
        row = _run_row(record)
        await self.client()
        await self._buffer.buffer_run(record.run_id, row)

    async def add_events(self, events: Sequence[RuntimeEvent]) -> None:
        """Buffer events in order for the next batch.

        Raises:
            RegistryError: code `"not_json"` for an event that cannot be stored; the other
                events of the call are buffered, the store goes on.
        """
        rows: list[EventRow] = []
        bad: RegistryError | None = None
        for event in events:
            try:
                rows.append(_event_row(event))
            except RegistryError as exc:
                bad = bad or exc
        await self.client()
        if rows:
            await self._buffer.add_events(rows)
        if bad is not None:
            raise bad

    async def add_checkpoint(self, run_id: str, key: str, value_json: str) -> None:
        """Write a checkpoint (with everything buffered before it) and wait for it."""
        await self.client()
        await self._buffer.write_checkpoint((run_id, key), (run_id, key, value_json))

    def pending_run(self, run_id: str) -> RunRecord | None:
        """A run upsert waiting for its batch, or None."""
        row = self._buffer.pending_run(run_id)
        return None if row is None else RunRecord.model_validate_json(row[1])

    @property
    def dropped_events(self) -> int:
        """Events dropped because Redis could not be written for too long."""
        return self._buffer.dropped_events

    async def flush(self) -> None:
        """Write everything buffered in one atomic script call.

        Raises:
            RegistryError: the batch failed and wrote nothing (its events stay buffered;
                a retried batch is idempotent: events are deduplicated by id).
        """
        await self._buffer.flush()

    async def _write_batch(self, batch: Batch[RunRow, CheckpointRow, EventRow]) -> None:
        await self.client()
        async with self.guard("a batched write"):
            await self._scripts["flush"](keys=[], args=self._script_args(batch))

    def _script_args(self, batch: Batch[RunRow, CheckpointRow, EventRow]) -> list[str]:
        args = [
            self.prefix,
            str(len(batch.runs)),
            str(len(batch.checkpoints)),
            str(len(batch.events)),
        ]
        for rows in (batch.runs, batch.checkpoints, batch.events):
            for row in rows:
                args.extend(row)
        args.append(str(REDIS_STORE_SCHEMA_VERSION))
        return args

    def flush_sync(self) -> None:
        """Write what is buffered with a blocking client (used at interpreter exit, when a
        store was never closed and no event loop is left)."""
        if self._closed or not self._buffer.has_pending():
            return
        from redis import Redis as SyncRedis

        client = SyncRedis.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        batch = self._buffer.take()
        try:
            client.eval(FLUSH_SCRIPT, 0, *self._script_args(batch))
        finally:
            client.close()

    async def ready(self) -> Redis:
        """The client, after flushing this process's buffered writes (call before reads)."""
        client = await self.client()
        await self._buffer.flush()
        return client


def _flush_at_exit(ref: Callable[[], RedisStoreClient | None]) -> None:
    client = ref()
    if client is None:
        return
    try:
        client.flush_sync()
    except Exception as exc:  # nothing left to raise to: say it loudly
        print(
            f"murmur-redis: could not write the store writes buffered under prefix "
            f"{client.prefix!r} at exit (close the runtime or store): {exc}",
            file=sys.stderr,
        )


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
                f"option {key}={value!r} in {_safe_url(url)} must be a {kind.__name__}",
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


def _corrupt(prefix: str, reason: str) -> RegistryError:
    return RegistryError(
        f"the Redis store under prefix {prefix!r} holds keys murmur did not write ({reason}); "
        "murmur left them untouched: use another ?prefix= or remove those keys",
        code="store_corrupt",
        details={"prefix": prefix, "reason": reason},
    )


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url

"""`RedisStoreClient`: the connection pool and write buffer the Redis stores share.

Writes go through murmur's `WriteBuffer`; each batch is one call of `FLUSH_SCRIPT`, which
checks every key's type before it writes, so a batch is written whole or not at all.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import sys
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from murmur.core.errors import MurmurError, RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import Batch, RunRecord, WriteBuffer, encode_event, encode_record
from murmur_redis._store_scripts import FLUSH_SCRIPT, LIST_RUNS_SCRIPT

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["REDIS_STORE_SCHEMA_VERSION", "RedisStoreClient", "safe_url"]

REDIS_STORE_SCHEMA_VERSION = 1
"""The key-layout version these stores write and read."""


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
                f"cannot reach the Redis store at {safe_url(self.url)} during {action}: {exc}; "
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


def _corrupt(prefix: str, reason: str) -> RegistryError:
    return RegistryError(
        f"the Redis store under prefix {prefix!r} holds keys murmur did not write ({reason}); "
        "murmur left them untouched: use another ?prefix= or remove those keys",
        code="store_corrupt",
        details={"prefix": prefix, "reason": reason},
    )


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url

"""`RedisStoreClient`: the Redis client and write buffer the Redis stores share.

Use counting, the write buffer and the exit hook are murmur's `SharedStoreClient`; Redis
calls and their errors go through `RedisConnection`. Each batch is one call of
`FLUSH_SCRIPT`, which checks every key's type before it writes, so a batch is written whole
or not at all.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

from murmur.core.errors import RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import (
    Batch,
    RunRecord,
    SharedStoreClient,
    SharedStoreUser,
    encode_event,
    encode_record,
)
from murmur_redis._connection import RedisConnection, RedisErrorCodes
from murmur_redis._store_scripts import FLUSH_SCRIPT, LIST_RUNS_SCRIPT

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["REDIS_STORE_SCHEMA_VERSION", "RedisStoreClient", "UsesStoreClient"]

REDIS_STORE_SCHEMA_VERSION = 1
"""The key-layout version these stores write and read."""

_STORE_ERRORS = RedisErrorCodes(
    unavailable="store_unavailable",
    timeout="store_timeout",
    error="store_error",
    wrong_type="store_corrupt",
    wrong_type_hint="murmur left the keys untouched: use another ?prefix= or remove those keys",
)


def _opt(value: str | None) -> str:
    return "" if value is None else value


RunRow = tuple[str, str, str, str, str, str, str]
CheckpointRow = tuple[str, str, str]
EventRow = tuple[str, str, str, str, str, str, str]


class RedisStoreClient(SharedStoreClient["Redis", RunRow, CheckpointRow, EventRow]):
    """One Redis client and write buffer shared by a run store and an event store.

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
        self.redis = RedisConnection(
            url,
            timeout=timeout,
            what=f"the Redis store under prefix {prefix!r}",
            codes=_STORE_ERRORS,
            decode_responses=True,
        )
        self._scripts: dict[str, Any] = {}
        super().__init__(
            name=f"redis:{prefix}",
            batch_size=batch_size,
            flush_interval=flush_interval,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"RedisStoreClient(prefix={self.prefix!r})"

    # -- rows ---------------------------------------------------------------------------

    def run_row(self, record: RunRecord) -> RunRow:
        """The script arguments of a run record."""
        return (
            record.run_id,
            encode_record(record),
            repr(record.created_at),
            record.status.value,
            _opt(record.agent_name),
            _opt(record.parent_trace_id),
            record.kind,
        )

    def event_row(self, event: RuntimeEvent) -> EventRow:
        """The script arguments of an event."""
        return (
            event.id,
            encode_event(event),
            repr(event.timestamp),
            _opt(event.trace_id),
            _opt(event.parent_trace_id),
            _opt(event.agent_name),
            event.event_type.value,
        )

    def checkpoint_row(self, run_id: str, key: str, value_json: str) -> CheckpointRow:
        """The script arguments of a checkpoint."""
        return (run_id, key, value_json)

    def record_json(self, row: RunRow) -> str:
        """The record JSON of a run row."""
        return row[1]

    # -- the connection -----------------------------------------------------------------

    async def client(self) -> Redis:
        """The connected client, checking the layout version on first use.

        Raises:
            RegistryError: code `"store_unavailable"`, `"store_timeout"`,
                `"store_schema_newer"`, `"store_corrupt"` or `"store_closed"`.
        """
        return await self.connection()

    async def _connect(self) -> Redis:
        client = self.redis.client()
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
            await self.redis.aclose(client)
            raise
        self.register_exit_hook()
        return client

    async def _disconnect(self, conn: Redis) -> None:
        await self.redis.aclose(conn)

    def guard(self, action: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Bound an operation by `timeout`; turn Redis errors into `RegistryError`s."""
        return self.redis.guard(action)

    async def list_runs(self, keys: list[str], args: list[Any]) -> list[str]:
        """Run the listing script (after writing this process's buffered writes)."""
        redis = await self.ready()
        async with self.guard("a run listing"):
            return await self._scripts["list"](keys=keys, args=args, client=redis)

    async def ready(self) -> Redis:
        """The client, after flushing this process's buffered writes (call before reads)."""
        client = await self.connection()
        await self._buffer.flush()
        return client

    # -- batches ------------------------------------------------------------------------

    async def write_batch(self, batch: Batch[RunRow, CheckpointRow, EventRow]) -> None:
        """Write one batch with one atomic script call."""
        await self.connection()
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

    def flush_at_exit(self) -> None:
        """Write what is buffered with a blocking client.

        Used at interpreter exit, when a store was never closed and no event loop is left.
        """
        if self.closed or not self.has_pending():
            return
        from redis import Redis as SyncRedis

        client = SyncRedis.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        batch = self.take_buffered()
        try:
            client.eval(FLUSH_SCRIPT, 0, *self._script_args(batch))
        finally:
            client.close()


class UsesStoreClient(SharedStoreUser):
    """A Redis store: built on a `RedisStoreClient` it shares, or on a URL (its own client).

    Args:
        client: a `RedisStoreClient` shared with the other store, or a Redis URL.
        **options: `RedisStoreClient` options when `client` is a URL.
    """

    def __init__(
        self, client: RedisStoreClient | str = "redis://127.0.0.1:6379/0", **options: Any
    ) -> None:
        self.client = (
            client if isinstance(client, RedisStoreClient) else RedisStoreClient(client, **options)
        )
        self._use(self.client)


def _corrupt(prefix: str, reason: str) -> RegistryError:
    return RegistryError(
        f"the Redis store under prefix {prefix!r} holds keys murmur did not write ({reason}); "
        "murmur left them untouched: use another ?prefix= or remove those keys",
        code="store_corrupt",
        details={"prefix": prefix, "reason": reason},
    )

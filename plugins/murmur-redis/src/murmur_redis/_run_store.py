"""`RedisRunStore`: runs and checkpoints in Redis, shared by a whole fleet.

```
{p}run:{run_id}            HASH    json, status, agent, parent, kind
{p}runs:all                ZSET    run ids scored by created_at
{p}runs:status:{status}    ZSET    (same, per status; also :agent:, :parent:, :kind:)
{p}ckpt:{run_id}           HASH    checkpoint key -> JSON
```

Run records and checkpoints are in Redis when `put` / `put_checkpoint` return (the shared
`RedisStoreClient` writes them through its buffer, one Lua script per batch).
"""

from __future__ import annotations

import builtins
import json
import time
from typing import Any, cast

from murmur.core.errors import RegistryError
from murmur.runs import RunRecord, RunStatus, RunStore, SharedRunStoreUser
from murmur_redis._store_client import UsesStoreClient

__all__ = ["RedisRunStore"]


class RedisRunStore(SharedRunStoreUser, UsesStoreClient, RunStore):
    """Runs and checkpoints in Redis, shared by every process using the same prefix.

    Args:
        client: a `RedisStoreClient` shared with an event store, or a Redis URL.
        **options: `RedisStoreClient` options when `client` is a URL.
    """

    async def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        pending = self.pending_run(run_id)
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
        temp = f"{p}tmp:{time.time_ns()}:{id(self)}"
        start = max(offset, 0)
        rows = await self.client.list_runs([temp, *keys], [start, start + limit - 1, p])
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

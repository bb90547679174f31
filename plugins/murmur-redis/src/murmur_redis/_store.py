"""The Redis store URL: `AgentRuntime(store="redis://...")` gives stores a fleet shares.

Every key starts with a prefix (`?prefix=`, default `murmur:store:`); `{p}schema_version`
holds the layout version (`REDIS_STORE_SCHEMA_VERSION`). The run store's keys are in
`murmur_redis._run_store`, the event store's in `murmur_redis._event_store`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from murmur.runs import Stores, parse_store_url
from murmur.transport import redact_url
from murmur_redis._event_store import RedisEventStore
from murmur_redis._run_store import RedisRunStore
from murmur_redis._store_client import REDIS_STORE_SCHEMA_VERSION, RedisStoreClient

__all__ = [
    "REDIS_STORE_SCHEMA_VERSION",
    "RedisEventStore",
    "RedisRunStore",
    "RedisStoreClient",
    "redis_store_factory",
]
_OPTIONS: dict[str, Callable[[str], Any]] = {
    "prefix": str,
    "batch_size": int,
    "flush_interval": float,
    "timeout": float,
}


def redis_store_factory(url: str) -> Stores:
    """Entry point `murmur.stores:redis` / `rediss`: run and event stores on one server.

    `redis://host:6379/0?prefix=myapp:` keeps every key under `myapp:`; `batch_size`,
    `flush_interval` and `timeout` tune the write buffer; other query options go to redis-py.
    The connection opens on first use.

    Raises:
        RegistryError: code `"invalid_url"` for a bad option.
    """
    parsed = parse_store_url(url, _OPTIONS, keep_unknown=True, shown=redact_url(url))
    client = RedisStoreClient(parsed.without_options(), **parsed.options)
    return Stores(runs=RedisRunStore(client), events=RedisEventStore(client))

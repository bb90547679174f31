"""Redis Streams broker, Redis run/event stores, fleet-wide budgets and rate limits for murmur.

- Broker: `AgentRuntime(broker="redis://localhost:6379")` and
  `murmur worker start --broker redis://localhost:6379` use `RedisTransport` (entry points
  `murmur.backends: redis, rediss` -> `backend_factory`).
- Stores: `AgentRuntime(store="redis://localhost:6379")` (entry points
  `murmur.stores: redis, rediss` -> `redis_store_factory`), shared by a whole fleet.
- Fleet-wide limits: `RedisTokenBudget` (a `TokenBudget` every process shares) and
  `RedisConcurrencyLimiter` (a PydanticAI concurrency limiter shared across a fleet).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from murmur.transport import transport_backend_factory
from murmur_redis._budget import RedisTokenBudget
from murmur_redis._limiter import TokenRateRecorder
from murmur_redis._store import (
    REDIS_STORE_SCHEMA_VERSION,
    RedisEventStore,
    RedisRunStore,
    RedisStoreClient,
    redis_store_factory,
)
from murmur_redis._transport import RedisTransport

if TYPE_CHECKING:
    from murmur_redis._limiter import RedisConcurrencyLimiter

backend_factory = transport_backend_factory(RedisTransport)
"""Entry point `murmur.backends:redis` / `rediss`: a `JobBackend` over a `RedisTransport`."""

__all__ = [
    "REDIS_STORE_SCHEMA_VERSION",
    "RedisConcurrencyLimiter",
    "RedisEventStore",
    "RedisRunStore",
    "RedisStoreClient",
    "RedisTokenBudget",
    "RedisTransport",
    "TokenRateRecorder",
    "backend_factory",
    "redis_store_factory",
]


def __getattr__(name: str) -> Any:
    # The limiter subclasses PydanticAI's limiter: built on first use so that importing
    # murmur_redis (for the broker or the stores) does not import pydantic_ai.
    if name == "RedisConcurrencyLimiter":
        from murmur_redis import _limiter

        return _limiter.RedisConcurrencyLimiter
    raise AttributeError(f"module 'murmur_redis' has no attribute {name!r}")

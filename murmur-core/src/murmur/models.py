"""Model-level helpers: concurrency limiters shared across agents.

`ConcurrencyLimiter` is PydanticAI's limiter (imported on first use, so `import murmur`
stays light); pass one to several agents' `model_concurrency_limiter` to share a cap.
Subclass `AbstractConcurrencyLimiter` for a cross-process limiter (murmur-redis ships one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_ai.concurrency import AbstractConcurrencyLimiter, ConcurrencyLimiter

__all__ = ["AbstractConcurrencyLimiter", "ConcurrencyLimiter"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pydantic_ai import concurrency

        return getattr(concurrency, name)
    raise AttributeError(f"module 'murmur.models' has no attribute {name!r}")

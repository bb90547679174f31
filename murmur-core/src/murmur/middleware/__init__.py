"""Pipeline middleware: cost, timeout, retry, depth limit.

Configured through `RuntimeOptions`; you rarely construct these yourself.
"""

from __future__ import annotations

from murmur.core.budget import TokenBudget
from murmur.execution._spawns import SpawnCounter
from murmur.middleware._base import Middleware, Next, compose
from murmur.middleware.cost_tracking import CostTrackingMiddleware
from murmur.middleware.depth_limit import DepthLimitMiddleware
from murmur.middleware.retry import RetryMiddleware, is_transient
from murmur.middleware.timeout import TimeoutMiddleware

__all__ = [
    "CostTrackingMiddleware",
    "DepthLimitMiddleware",
    "Middleware",
    "Next",
    "RetryMiddleware",
    "SpawnCounter",
    "TimeoutMiddleware",
    "TokenBudget",
    "compose",
    "is_transient",
]

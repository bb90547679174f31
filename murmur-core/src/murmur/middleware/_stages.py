"""Which stage runs where: the caller's pipeline and a delivered task's pipeline.

A run goes through the caller's stages once: spawn control -> observability -> prepare ->
the user's middleware -> retry -> cost -> timeout -> execute. A task a worker receives from a
broker runs only observability (local telemetry, no record), the user's middleware and
execute: its limits travel in the envelope. See `docs/architecture.md`.
"""

from __future__ import annotations

from collections.abc import Sequence

from murmur.execution._options import RuntimeOptions
from murmur.execution._spawns import SpawnCounter
from murmur.middleware._base import Middleware
from murmur.middleware.cost_tracking import CostTrackingMiddleware
from murmur.middleware.depth_limit import DepthLimitMiddleware
from murmur.middleware.observability import ObservabilityMiddleware
from murmur.middleware.prepare import PrepareMiddleware
from murmur.middleware.retry import RetryMiddleware
from murmur.middleware.timeout import TimeoutMiddleware

__all__ = ["caller_stages", "delivered_stages"]


def caller_stages(
    options: RuntimeOptions, spawns: SpawnCounter, extra: Sequence[Middleware]
) -> list[Middleware]:
    """The stages of a run started on this runtime, outermost first."""
    stages: list[Middleware] = [
        DepthLimitMiddleware(options.max_spawn_depth, spawns),
        ObservabilityMiddleware(),
        PrepareMiddleware(),
        *extra,
    ]
    if options.retry_max_attempts > 1:
        stages.append(RetryMiddleware(options.retry_max_attempts, options.retry_backoff_factor))
    stages.append(CostTrackingMiddleware())
    if options.timeout_seconds is not None:
        stages.append(TimeoutMiddleware(options.timeout_seconds))
    return stages


def delivered_stages(extra: Sequence[Middleware]) -> list[Middleware]:
    """The stages of a task delivered from a broker to run here, outermost first."""
    return [ObservabilityMiddleware(record=False), *extra]

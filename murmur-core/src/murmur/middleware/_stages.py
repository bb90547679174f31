"""Which stage runs where: the caller's pipeline and a delivered task's pipeline.

A run goes through the caller's stages once: spawn control -> observability -> prepare ->
the user's middleware -> retry -> cost -> timeout -> execute. A task a worker receives from a
broker runs only observability (local telemetry, no record), the user's middleware and
execute: its limits travel in the envelope. See `docs/architecture.md`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from murmur.execution._options import RuntimeOptions
from murmur.execution._spawns import SpawnCounter
from murmur.middleware._base import Middleware
from murmur.middleware.cost_tracking import CostTrackingMiddleware
from murmur.middleware.depth_limit import DepthLimitMiddleware
from murmur.middleware.observability import ObservabilityMiddleware
from murmur.middleware.prepare import PrepareMiddleware
from murmur.middleware.retry import RetryMiddleware
from murmur.middleware.timeout import TimeoutMiddleware

__all__ = ["CallerStages", "caller_stages", "delivered_stages"]


@dataclass(frozen=True, slots=True)
class CallerStages:
    """The stages of a run started on a runtime, outermost first.

    `spawn_control`, `observe` and `prepare` come first, then `inner`: the user's middleware,
    retry, cost and timeout. The runtime runs the first three in the run's own frame
    (`murmur._run`) and composes `inner` around the execution; `all` is every stage in order.
    """

    spawn_control: DepthLimitMiddleware
    observe: ObservabilityMiddleware
    prepare: PrepareMiddleware
    inner: tuple[Middleware, ...]

    @property
    def all(self) -> list[Middleware]:
        """Every stage, outermost first."""
        return [self.spawn_control, self.observe, self.prepare, *self.inner]

    @property
    def only_cost(self) -> bool:
        """Whether `inner` is the cost stage alone (no middleware, retry or timeout)."""
        return len(self.inner) == 1 and isinstance(self.inner[0], CostTrackingMiddleware)


def caller_stages(
    options: RuntimeOptions, spawns: SpawnCounter, extra: Sequence[Middleware]
) -> CallerStages:
    """The stages of a run started on this runtime."""
    inner: list[Middleware] = [*extra]
    if options.retry_max_attempts > 1:
        inner.append(RetryMiddleware(options.retry_max_attempts, options.retry_backoff_factor))
    inner.append(CostTrackingMiddleware())
    if options.timeout_seconds is not None:
        inner.append(TimeoutMiddleware(options.timeout_seconds))
    return CallerStages(
        DepthLimitMiddleware(options.max_spawn_depth, spawns),
        ObservabilityMiddleware(),
        PrepareMiddleware(),
        tuple(inner),
    )


def delivered_stages(extra: Sequence[Middleware]) -> list[Middleware]:
    """The stages of a task delivered from a broker to run here, outermost first."""
    return [ObservabilityMiddleware(record=False), *extra]

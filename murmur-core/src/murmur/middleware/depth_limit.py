"""Cascading-spawn control: depth limit, cycle detection, and the runtime-wide spawn cap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from murmur.core.errors import DepthLimitError, MurmurError, SpawnCapError, SpawnCycleError
from murmur.events import EventType

if TYPE_CHECKING:
    from murmur.backends._pydantic_ai import ExecutionOutcome
    from murmur.core.context import ExecutionContext
    from murmur.middleware._base import Next

__all__ = ["DepthLimitMiddleware", "SpawnCounter"]


class SpawnCounter:
    """Counts every run a runtime dispatches (top-level and nested)."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.count = 0

    def take(self) -> bool:
        """Count one spawn; False (and nothing counted) when the cap is exhausted."""
        if self.cap is not None and self.count >= self.cap:
            return False
        self.count += 1
        return True


class DepthLimitMiddleware:
    """Refuses a run before it executes when it is too deep, re-enters an ancestor, or
    would exceed the runtime's total spawn cap."""

    def __init__(self, max_depth: int | None, counter: SpawnCounter) -> None:
        self.max_depth = max_depth
        self.counter = counter

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Check, count, continue."""
        error: MurmurError | None = None
        name = ctx.agent.name
        if name in ctx.ancestors:
            chain = " -> ".join((*ctx.ancestors, name))
            error = SpawnCycleError(
                f"spawning {name!r} would re-enter an ancestor ({chain}); the child was not run",
                details={"chain": [*ctx.ancestors, name]},
            )
        elif self.max_depth is not None and ctx.depth > self.max_depth:
            error = DepthLimitError(
                f"spawn depth {ctx.depth} for agent {name!r} exceeds max_spawn_depth="
                f"{self.max_depth}; raise RuntimeOptions(max_spawn_depth=...) or flatten the tree",
                details={"depth": ctx.depth, "max_depth": self.max_depth},
            )
        elif not self.counter.take():
            error = SpawnCapError(
                f"runtime-wide spawn cap max_total_spawns={self.counter.cap} exhausted; agent "
                f"{name!r} was not run",
                details={"cap": self.counter.cap},
            )
        if error is not None:
            if ctx.runtime is not None:
                await ctx.runtime.emit_for(
                    ctx, EventType.SPAWN_REFUSED, {"reason": error.code, "error": error.message}
                )
            raise error
        return await call_next(ctx)

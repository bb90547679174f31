"""Cascading-spawn control: depth limit, cycle detection, and the runtime-wide spawn cap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from murmur.core.errors import DepthLimitError, MurmurError, SpawnCapError, SpawnCycleError
from murmur.events._model import EventType
from murmur.execution._spawns import SpawnCounter

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome
    from murmur.middleware._base import Next

__all__ = ["DepthLimitMiddleware", "SpawnCounter", "refuse"]


class DepthLimitMiddleware:
    """Refuses a run before it executes when it breaks a spawn limit.

    That is when it is too deep, re-enters an ancestor, or would exceed the runtime's total spawn
    cap.
    """

    def __init__(self, max_depth: int | None, counter: SpawnCounter) -> None:
        self.max_depth = max_depth
        self.counter = counter

    def _limit(self, ctx: ExecutionContext) -> int | None:
        """The tightest depth limit: this runtime's, or one inherited from the caller."""
        mine, inherited = self.max_depth, ctx.max_depth
        if mine is None or (inherited is not None and inherited < mine):
            return inherited
        return mine

    def _take(self, ctx: ExecutionContext) -> SpawnCounter | None:
        """Count the run against this runtime's cap and every inherited allowance.

        Returns the exhausted counter (nothing counted) if any refuses.
        """
        if not ctx.spawn_counters:  # a run started here: this runtime's count alone
            return None if self.counter.take() else self.counter
        counters = (self.counter, *ctx.spawn_counters)
        for counter in counters:
            remaining = counter.remaining
            if remaining is not None and remaining < 1:
                return counter
        for counter in counters:
            counter.take()
        return None

    def refusal(self, ctx: ExecutionContext) -> MurmurError | None:
        """Why the run may not start (None: it may, and it is counted against the caps)."""
        if not ctx.ancestors and not ctx.spawn_counters and ctx.max_depth is None:
            # A top-level run started here (no limit inherited from a caller): the common case.
            limit = self.max_depth
            counter = self.counter
            if (limit is None or ctx.depth <= limit) and (
                counter.cap is None or counter.count < counter.cap
            ):
                counter.count += 1  # SpawnCounter.take, inline: the common case
                return None
        name = ctx.agent.name
        if name in ctx.ancestors:
            chain = " -> ".join((*ctx.ancestors, name))
            return SpawnCycleError(
                f"spawning {name!r} would re-enter an ancestor ({chain}); the child was not run",
                details={"chain": [*ctx.ancestors, name]},
            )
        if (limit := self._limit(ctx)) is not None and ctx.depth > limit:
            return DepthLimitError(
                f"spawn depth {ctx.depth} for agent {name!r} exceeds max_spawn_depth="
                f"{limit}; raise RuntimeOptions(max_spawn_depth=...) or flatten the tree",
                details={"depth": ctx.depth, "max_depth": limit},
            )
        if (exhausted := self._take(ctx)) is not None:
            return SpawnCapError(
                f"runtime-wide spawn cap max_total_spawns={exhausted.cap} exhausted; agent "
                f"{name!r} was not run",
                details={"cap": exhausted.cap},
            )
        return None

    def __call__(self, ctx: ExecutionContext, call_next: Next) -> Awaitable[ExecutionOutcome]:
        """Check, count, continue (no frame of this stage stays in a run it lets through)."""
        error = self.refusal(ctx)
        if error is not None:
            return refuse(ctx, error)
        return call_next(ctx)


async def refuse(ctx: ExecutionContext, error: MurmurError) -> ExecutionOutcome:
    """Tell the runtime's listeners the run was refused (`SPAWN_REFUSED`), then raise `error`."""
    if ctx.runtime is not None:
        await ctx.runtime.emit_for(
            ctx, EventType.SPAWN_REFUSED, {"reason": error.code, "error": error.message}
        )
    raise error

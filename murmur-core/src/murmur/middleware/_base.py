"""The middleware shape: `async (ctx, call_next) -> ExecutionOutcome`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome

__all__ = ["Middleware", "Next", "compose"]

Next = Callable[["ExecutionContext"], Awaitable["ExecutionOutcome"]]


class Middleware(Protocol):
    """One pipeline stage. Call `call_next(ctx)` to continue; raise a `MurmurError` to fail.

    Write it as `async def __call__(self, ctx, call_next)`. A plain `def` returning an
    awaitable works too: the kernel's stages return `call_next(ctx)` itself when they have
    nothing to do around it, so a run's every suspension does not pass through their frames.
    """

    def __call__(self, ctx: ExecutionContext, call_next: Next) -> Awaitable[ExecutionOutcome]:
        """Run this stage around the rest of the pipeline."""
        ...


def compose(stages: Sequence[Middleware], terminal: Next) -> Next:
    """Chain `stages` (outermost first) around `terminal`."""
    handler = terminal
    for stage in reversed(stages):
        handler = _bind(stage, handler)
    return handler


def _bind(stage: Middleware, call_next: Next) -> Next:
    # A plain function returning the stage's coroutine: no extra coroutine frame per stage
    # for every suspension of the run to pass through.
    def handler(ctx: ExecutionContext) -> Awaitable[ExecutionOutcome]:
        return stage(ctx, call_next)

    return handler

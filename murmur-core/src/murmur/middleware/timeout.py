"""Bound each attempt's wall-clock time (a hung model or tool)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from murmur.core.errors import BudgetExceededError

if TYPE_CHECKING:
    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome
    from murmur.middleware._base import Next

__all__ = ["TimeoutMiddleware"]


class TimeoutMiddleware:
    """Fails an attempt that runs longer than `timeout_seconds` (code `"timeout"`)."""

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Run the attempt under a deadline.

        The deadline is also recorded in `ctx.deadline` (wall clock), so a broker backend can put it
        in the task envelope.
        """
        ctx.deadline = time.time() + self.timeout_seconds
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await call_next(ctx)
        except TimeoutError:
            raise BudgetExceededError(
                f"agent {ctx.agent.name!r} timed out after {self.timeout_seconds:g}s "
                f"(attempt {ctx.attempt}); raise RuntimeOptions(timeout_seconds=...) if the "
                "work needs longer",
                code="timeout",
                details={"timeout_seconds": self.timeout_seconds, "transient": True},
            ) from None

"""Retry transient failures (provider and connection errors, timeouts) with backoff."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from murmur.core.errors import MurmurError
from murmur.events._model import EventType

if TYPE_CHECKING:
    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome
    from murmur.middleware._base import Next

__all__ = ["RetryMiddleware", "is_transient"]

_TRANSIENT_CODES = frozenset({"provider_error", "connection_error", "timeout", "broker_error"})


def is_transient(error: MurmurError) -> bool:
    """True for failures worth retrying: provider, connection and timeout errors.

    Validation, trust, budget, registry and tool errors are never retried.
    """
    return bool(error.details.get("transient")) or error.code in _TRANSIENT_CODES


class RetryMiddleware:
    """Re-runs an attempt up to `max_attempts` times on transient failures.

    The delay before attempt n+1 is `backoff_factor * 2 ** (n - 1)` seconds.
    """

    def __init__(self, max_attempts: int, backoff_factor: float) -> None:
        self.max_attempts = max(1, max_attempts)
        self.backoff_factor = max(0.0, backoff_factor)

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Attempt, and on a transient failure wait and attempt again."""
        while True:
            try:
                return await call_next(ctx)
            except MurmurError as exc:
                if ctx.attempt >= self.max_attempts or not is_transient(exc):
                    raise
                delay = self.backoff_factor * 2 ** (ctx.attempt - 1)
                if ctx.runtime is not None:
                    await ctx.runtime.emit_for(
                        ctx,
                        EventType.AGENT_RETRIED,
                        {"attempt": ctx.attempt, "error": exc.message, "delay_s": delay},
                    )
                ctx.attempt += 1
                if delay:
                    await asyncio.sleep(delay)

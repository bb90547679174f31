"""Budgets: pre-check before a run, limit the run to what remains, post-charge after it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from murmur.core.budget import TokenBudget
from murmur.core.errors import BudgetExceededError
from murmur.events._model import EventType

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome
    from murmur.middleware._base import Next

__all__ = ["CostTrackingMiddleware", "TokenBudget"]


class CostTrackingMiddleware:
    """Checks every budget the run is charged to, then charges its tokens and cost.

    On a hit it emits `BUDGET_EXCEEDED` and fails the run with `BudgetExceededError`.
    """

    def __call__(self, ctx: ExecutionContext, call_next: Next) -> Awaitable[ExecutionOutcome]:
        """Pre-check, run with the remaining tokens as a hard limit, post-charge."""
        if not ctx.budgets:
            return call_next(ctx)  # nothing to charge: no frame of this stage in the run
        return self._charged(ctx, call_next)

    async def _charged(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        budgets = ctx.budgets
        remaining: int | None = None
        try:
            for budget in budgets:
                await budget.check()
                left = await budget.remaining()
                if left is not None:
                    remaining = left if remaining is None else min(remaining, left)
        except BudgetExceededError as exc:
            await _budget_event(ctx, exc, phase="pre_check")
            raise
        ctx.remaining_tokens = remaining
        try:
            outcome = await call_next(ctx)
        except BudgetExceededError as exc:
            if exc.code == "usage_limit":
                # The model was stopped once it went past what remained. Every budget is
                # charged what the run used (the backend reports it), never a parent's
                # remainder; when no usage came back, the run's own ceiling, which it
                # passed.
                used = _tokens_used(exc)
                spent = used if used is not None else remaining or 0
                for budget in budgets:
                    with contextlib.suppress(BudgetExceededError):
                        await budget.charge(spent)
                await _budget_event(ctx, exc, phase="during_run")
            raise
        tokens = outcome.input_tokens + outcome.output_tokens
        errors: list[BudgetExceededError] = []
        for budget in budgets:
            try:
                await budget.charge(tokens, outcome.cost_usd)
            except BudgetExceededError as exc:
                errors.append(exc)
        if errors:
            await _budget_event(ctx, errors[0], phase="post_charge")
            raise errors[0]
        return outcome


def _tokens_used(exc: BudgetExceededError) -> int | None:
    tokens = [exc.details.get(key) for key in ("input_tokens", "output_tokens")]
    if not any(isinstance(t, int) for t in tokens):
        return None
    return sum(t for t in tokens if isinstance(t, int))


async def _budget_event(ctx: ExecutionContext, exc: BudgetExceededError, *, phase: str) -> None:
    if ctx.runtime is not None:
        await ctx.runtime.emit_for(
            ctx, EventType.BUDGET_EXCEEDED, {"phase": phase, "error": exc.message, **exc.details}
        )

"""Budgets: pre-check before a run, limit the run to what remains, post-charge after it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from murmur._budget import TokenBudget
from murmur.core.errors import BudgetExceededError
from murmur.events import EventType

if TYPE_CHECKING:
    from murmur.backends._pydantic_ai import ExecutionOutcome
    from murmur.core.context import ExecutionContext
    from murmur.middleware._base import Next

__all__ = ["CostTrackingMiddleware", "TokenBudget"]


class CostTrackingMiddleware:
    """Checks every budget the run is charged to, then charges its tokens and cost.

    On a hit it emits `BUDGET_EXCEEDED` and fails the run with `BudgetExceededError`.
    """

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Pre-check, run with the remaining tokens as a hard limit, post-charge."""
        budgets = ctx.budgets
        if not budgets:
            return await call_next(ctx)
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
        ctx.extra["remaining_tokens"] = remaining
        try:
            outcome = await call_next(ctx)
        except BudgetExceededError as exc:
            if exc.code == "usage_limit":
                # The model was stopped once it went past what remained: at least that much
                # was spent, so the budgets are charged up to their ceiling.
                for budget in budgets:
                    left = await budget.remaining()
                    if left:
                        with contextlib.suppress(BudgetExceededError):
                            await budget.charge(left)
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


async def _budget_event(ctx: ExecutionContext, exc: BudgetExceededError, *, phase: str) -> None:
    if ctx.runtime is not None:
        await ctx.runtime.emit_for(
            ctx, EventType.BUDGET_EXCEEDED, {"phase": phase, "error": exc.message, **exc.details}
        )

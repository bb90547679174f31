"""Token budgets: pre-check before a run, post-charge after it."""

from __future__ import annotations

from murmur.core.errors import BudgetExceededError

__all__ = ["TokenBudget"]


class TokenBudget:
    """A ceiling on tokens (and optionally USD) spent by the runs that share it.

    Pass one to `RuntimeOptions(token_budget=...)` for a runtime-wide ceiling, or to
    `TaskSpec(token_budget=...)` for one task (its nested spawns share it). Before a run
    the budget is checked (`check`); the run's model is limited to what remains; after the
    run its tokens are charged (`charge`). Subclass and override the three async methods
    for a budget shared across processes (murmur-redis ships one).

    Args:
        limit: maximum total tokens (input + output); None for no token ceiling.
        max_cost_usd: maximum spend in USD (best-effort, from rate cards); None for none.
        name: a label used in events and error messages.
    """

    def __init__(
        self,
        limit: int | None = None,
        *,
        max_cost_usd: float | None = None,
        name: str = "budget",
    ) -> None:
        if limit is not None and limit < 0:
            raise BudgetExceededError(
                f"TokenBudget limit must be >= 0, got {limit}", code="invalid_budget"
            )
        self.limit = limit
        self.max_cost_usd = max_cost_usd
        self.name = name
        self.used = 0
        self.cost_usd = 0.0

    async def check(self) -> None:
        """Raise `BudgetExceededError` when nothing is left to spend."""
        if self.limit is not None and self.used >= self.limit:
            raise BudgetExceededError(
                f"token budget {self.name!r} exhausted: {self.used} of {self.limit} tokens used; "
                "raise TokenBudget(limit=...) or start a new budget",
                details={"budget": self.name, "used": self.used, "limit": self.limit},
            )
        if self.max_cost_usd is not None and self.cost_usd >= self.max_cost_usd:
            raise BudgetExceededError(
                f"cost budget {self.name!r} exhausted: ${self.cost_usd:.4f} of "
                f"${self.max_cost_usd:.4f} spent; raise TokenBudget(max_cost_usd=...)",
                details={"budget": self.name, "cost_usd": self.cost_usd},
            )

    async def remaining(self) -> int | None:
        """Tokens left, or None when there is no token ceiling."""
        if self.limit is None:
            return None
        return max(0, self.limit - self.used)

    async def charge(self, tokens: int, cost_usd: float | None = None) -> None:
        """Record spend; raises `BudgetExceededError` when the charge went over the ceiling."""
        self.used += tokens
        if cost_usd:
            self.cost_usd += cost_usd
        over_tokens = self.limit is not None and self.used > self.limit
        over_cost = self.max_cost_usd is not None and self.cost_usd > self.max_cost_usd
        if over_tokens or over_cost:
            raise BudgetExceededError(
                f"run went over budget {self.name!r}: {self.used} tokens used of "
                f"{self.limit}, ${self.cost_usd:.4f} spent",
                details={"budget": self.name, "used": self.used, "limit": self.limit},
            )

    def __repr__(self) -> str:
        return f"TokenBudget(limit={self.limit!r}, used={self.used}, name={self.name!r})"

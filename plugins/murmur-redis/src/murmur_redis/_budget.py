"""`RedisTokenBudget`: a `TokenBudget` whose spend lives in one Redis hash.

Every runtime and worker given the same `key` draws from one budget:

```
{key}                      HASH    tokens (int), cost (float as text)
```

A charge is one Lua script (atomic on the server). `redis` is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from murmur import TokenBudget
from murmur.core.errors import BudgetExceededError
from murmur_redis._connection import RedisConnection, RedisErrorCodes
from murmur_redis._limit_scripts import CHARGE

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["DEFAULT_URL", "RedisTokenBudget"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"

_BUDGET_ERRORS = RedisErrorCodes(
    unavailable="budget_unavailable",
    timeout="budget_unavailable",
    error="budget_unavailable",
    wrong_type="budget_unavailable",
    wrong_type_hint="the budget key holds another type: use another key= or delete it",
)


class RedisTokenBudget(TokenBudget):
    """A `TokenBudget` shared by every process that uses the same Redis `key`.

    The pre-check reads the fleet-wide spend, and the post-charge adds a run's tokens and
    cost in one Lua script (atomic on the server), so concurrent runs in many processes
    never lose a charge. Runs that pass the check at the same time may together go over
    the ceiling by at most what those in-flight runs spend (each run's model is limited to
    the tokens that remained when it started); no run starts once the budget is spent.

    ```python
    from murmur import AgentRuntime, RuntimeOptions
    from murmur_redis import RedisTokenBudget

    budget = RedisTokenBudget(1_000_000, key="budget:team-a", url="redis://redis:6379/0")
    runtime = AgentRuntime(options=RuntimeOptions(token_budget=budget))
    ```

    `used` and `cost_usd` are the fleet-wide values last seen by this process; `spent()`
    reads them now. Give every process the same `limit` (the ceiling is checked by each
    process against the shared spend).

    Args:
        limit: maximum total tokens for the whole fleet; None for no token ceiling.
        key: the Redis key of the shared spend (one budget per key).
        url: the Redis URL (ignored when `client` is given).
        client: an existing `redis.asyncio.Redis` client to use instead of `url`.
        max_cost_usd: maximum fleet-wide spend in USD; None for none.
        name: a label for events and errors (default: `key`).
        ttl_seconds: when set, the spend expires this long after the first charge, which
            makes a budget per period (e.g. 86400 for a daily budget).
        timeout: seconds allowed for each Redis call.

    Raises:
        BudgetExceededError: (from `check` / `charge`) the shared budget is spent.
        RegistryError: code `"budget_unavailable"` when Redis does not answer (a run is
            refused rather than left unmetered; transient, so the retry stage may retry it).
    """

    def __init__(
        self,
        limit: int | None = None,
        *,
        key: str = "murmur:budget:default",
        url: str = DEFAULT_URL,
        client: Redis | None = None,
        max_cost_usd: float | None = None,
        name: str | None = None,
        ttl_seconds: float | None = None,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(limit, max_cost_usd=max_cost_usd, name=name or key)
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise BudgetExceededError(
                "RedisTokenBudget ttl_seconds must be > 0 (or None for no expiry)",
                code="invalid_budget",
            )
        self.key = key
        self.ttl_seconds = ttl_seconds
        self._redis = RedisConnection(
            url,
            timeout=timeout,
            what=f"token budget {self.name!r}",
            codes=_BUDGET_ERRORS,
            client=client,
        )

    async def spent(self) -> tuple[int, float]:
        """The fleet-wide spend now: (tokens, USD)."""
        raw = await self._redis.call("reading the spend", "hmget", self.key, "tokens", "cost")
        self.used = int(raw[0] or 0)
        self.cost_usd = float(raw[1] or 0.0)
        return self.used, self.cost_usd

    async def check(self) -> None:
        """Raise `BudgetExceededError` when the fleet has spent the budget."""
        await self.spent()
        await super().check()

    async def remaining(self) -> int | None:
        """Tokens the fleet has left, or None when there is no token ceiling."""
        if self.limit is None:
            return None
        await self.spent()
        return max(0, self.limit - self.used)

    async def charge(self, tokens: int, cost_usd: float | None = None) -> None:
        """Add a run's spend atomically; raises `BudgetExceededError` when it went over."""
        ttl_ms = int(self.ttl_seconds * 1000) if self.ttl_seconds else 0
        raw = await self._redis.script(
            "a charge", CHARGE, [self.key], [int(tokens), repr(float(cost_usd or 0.0)), ttl_ms]
        )
        self.used = int(raw[0])
        self.cost_usd = float(raw[1])
        over_tokens = self.limit is not None and self.used > self.limit
        over_cost = self.max_cost_usd is not None and self.cost_usd > self.max_cost_usd
        if over_tokens or over_cost:
            raise BudgetExceededError(
                f"run went over the shared budget {self.name!r}: {self.used} tokens used of "
                f"{self.limit}, ${self.cost_usd:.4f} spent",
                details={"budget": self.name, "used": self.used, "limit": self.limit},
            )

    async def reset(self) -> None:
        """Forget the fleet-wide spend (starts the budget over for every process)."""
        await self._redis.call("a reset", "delete", self.key)
        self.used = 0
        self.cost_usd = 0.0

    async def aclose(self) -> None:
        """Close the Redis connection this budget opened on the running loop."""
        await self._redis.aclose()

    def __repr__(self) -> str:
        return f"RedisTokenBudget(limit={self.limit!r}, key={self.key!r}, used={self.used})"

"""Fleet-wide limits in Redis: a shared token budget and a model concurrency/rate limiter.

`RedisTokenBudget` is a `TokenBudget` whose spend lives in one Redis hash, so every
runtime and worker given the same `key` draws from one budget:

```
{key}                      HASH    tokens (int), cost (float as text)
```

`RedisConcurrencyLimiter` is a PydanticAI `AbstractConcurrencyLimiter` (pass it as
`Agent(model_concurrency_limiter=...)`) shared by every process given the same `key`.
The `{...}` hash tag keeps a limiter's keys in one Redis Cluster slot:

```
{key}:running              ZSET    lease id -> lease expiry (ms, Redis clock)
{key}:requests             ZSET    lease id -> admission time (ms), the last window
{key}:tokens               ZSET    "<id>:<tokens>" -> record time (ms), the last window
```

Every read-modify-write is one Lua script (atomic on the server), and every time is the
Redis server's clock (`TIME`), so hosts with skewed clocks agree. `redis` is imported on
first use, and PydanticAI when `RedisConcurrencyLimiter` is first looked up.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import types
import uuid
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from murmur import TokenBudget
from murmur.core.errors import BudgetExceededError, SpawnError

if TYPE_CHECKING:
    from pydantic_ai.concurrency import AbstractConcurrencyLimiter
    from redis.asyncio import Redis

    from murmur.backends._pydantic_ai import ExecutionOutcome
    from murmur.core.context import ExecutionContext
    from murmur.middleware import Next

__all__ = ["RedisConcurrencyLimiter", "RedisTokenBudget", "TokenRateRecorder"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"

_CHARGE = """
local tokens = redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])
local cost = redis.call('HINCRBYFLOAT', KEYS[1], 'cost', ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return {tokens, cost}
"""

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max_running, rpm, tpm = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lease, window = tonumber(ARGV[5]), tonumber(ARGV[6])
if max_running > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= max_running then
    return -1
  end
end
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if redis.call('ZCARD', KEYS[2]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return math.max(1, tonumber(oldest[2]) + window - now)
  end
end
if tpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
  local used = 0
  for _, entry in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
    used = used + tonumber(string.match(entry, ':(%d+)$'))
  end
  if used >= tpm then
    local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    return math.max(1, tonumber(oldest[2]) + window - now)
  end
end
if max_running > 0 then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
end
if rpm > 0 then
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], window * 2)
end
return 0
"""

_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 0
"""

_RECORD_TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return 0
"""

_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


def _log() -> Any:
    import structlog

    return structlog.get_logger("murmur.redis.limits")


class _Connection:
    """A `redis.asyncio` client per event loop (a client is bound to the loop it is used on),
    Lua scripts by SHA with a fallback to EVAL, and a timeout on every call."""

    def __init__(self, url: str, client: Redis | None, timeout: float, what: str) -> None:
        if timeout <= 0:
            raise SpawnError(f"{what}: timeout must be > 0", code="invalid_options")
        self.url = url
        self.timeout = timeout
        self.what = what
        self._client = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = (
            weakref.WeakKeyDictionary()
        )

    def client(self) -> Redis:
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from redis.asyncio import from_url

            client = from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
            self._clients[loop] = client
        return client

    def _error(self, exc: BaseException, code: str) -> SpawnError:
        return SpawnError(
            f"{self.what}: Redis at {self.url} did not answer ({exc!r}); check that it is "
            "running and reachable, or raise timeout=",
            code=code,
            details={"transient": True, "url": self.url},
        )

    async def call(self, command: str, *args: Any, code: str) -> Any:
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self.timeout):
                return await getattr(self.client(), command)(*args)
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._error(exc, code) from None

    async def script(self, source: str, keys: Sequence[str], args: Sequence[Any], code: str) -> Any:
        from redis.exceptions import NoScriptError, RedisError

        sha = _sha(source)
        client = self.client()
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    return await client.evalsha(sha, len(keys), *keys, *args)  # type: ignore[misc]
                except NoScriptError:
                    return await client.eval(source, len(keys), *keys, *args)  # type: ignore[misc]
        except (RedisError, OSError, TimeoutError) as exc:
            raise self._error(exc, code) from None

    async def aclose(self) -> None:
        if self._client is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


_SHAS: dict[str, str] = {}


def _sha(source: str) -> str:
    sha = _SHAS.get(source)
    if sha is None:
        sha = _SHAS[source] = hashlib.sha1(source.encode()).hexdigest()
    return sha


# -- token budget ------------------------------------------------------------------------


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
        SpawnError: code `"budget_unavailable"` when Redis does not answer (a run is
            refused rather than left unmetered).
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
        self._redis = _Connection(url, client, timeout, f"token budget {self.name!r}")

    async def spent(self) -> tuple[int, float]:
        """The fleet-wide spend now: (tokens, USD)."""
        raw = await self._redis.call("hmget", self.key, "tokens", "cost", code="budget_unavailable")
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
            _CHARGE,
            [self.key],
            [int(tokens), repr(float(cost_usd or 0.0)), ttl_ms],
            code="budget_unavailable",
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
        await self._redis.call("delete", self.key, code="budget_unavailable")
        self.used = 0
        self.cost_usd = 0.0

    async def aclose(self) -> None:
        """Close the Redis connection this budget opened on the running loop."""
        await self._redis.aclose()

    def __repr__(self) -> str:
        return f"RedisTokenBudget(limit={self.limit!r}, key={self.key!r}, used={self.used})"


# -- concurrency and rate limiter --------------------------------------------------------


class _RedisLimiter:
    """A model concurrency and rate limiter shared by every process using the same `key`.

    Pass it to agents as `Agent(model_concurrency_limiter=limiter)`: every model request
    of those agents, in every process, first takes a slot. Limits (each optional):

    - `max_running`: model requests in flight at once across the fleet. A slot is a
      lease in Redis, renewed while held; the lease of a process that died expires after
      `lease_seconds`, so a crash never leaks a slot for good.
    - `requests_per_minute`: requests admitted per sliding window (`window_seconds`,
      default one minute).
    - `tokens_per_minute`: tokens per sliding window. The acquire/release API carries no
      token counts, so usage is fed in after each run: add `limiter.recorder()` to the
      runtime's middleware (or call `record_tokens`). Admission stops while the window's
      recorded tokens reach the cap; runs in flight can go past it by what they spend.

    ```python
    from murmur import Agent, AgentRuntime
    from murmur_redis import RedisConcurrencyLimiter

    pool = RedisConcurrencyLimiter(10, requests_per_minute=500, key="limits:openai")
    agent = Agent(name="researcher", model="openai:gpt-5.2", model_concurrency_limiter=pool)
    ```

    PydanticAI calls `release()` synchronously; the lease is freed by a task scheduled
    on the running loop (or, with no loop, left to expire). Waiting is polling with jitter
    (`poll_interval`), not a fair queue: a waiter in one process may be overtaken by one
    in another.

    Args:
        max_running: fleet-wide cap on concurrent model requests; None for no cap.
        requests_per_minute: fleet-wide cap on requests per window; None for none.
        tokens_per_minute: fleet-wide cap on recorded tokens per window; None for none.
        key: the Redis key prefix shared by the fleet (one limiter per key).
        url: the Redis URL (ignored when `client` is given).
        client: an existing `redis.asyncio.Redis` client to use instead of `url`.
        name: a label for spans and errors (default: `key`).
        lease_seconds: how long a slot outlives a holder that stopped renewing it.
        window_seconds: the rate window (60: per minute).
        poll_interval: seconds between tries while the fleet is at its cap.
        acquire_timeout: most seconds to wait for a slot; None waits forever.
        timeout: seconds allowed for each Redis call.

    Raises:
        SpawnError: (from a model request) code `"limiter_timeout"` when no slot came
            within `acquire_timeout`, `"limiter_unavailable"` when Redis does not answer.
    """

    def __init__(
        self,
        max_running: int | None = None,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        key: str = "murmur:limiter:default",
        url: str = DEFAULT_URL,
        client: Redis | None = None,
        name: str | None = None,
        lease_seconds: float = 60.0,
        window_seconds: float = 60.0,
        poll_interval: float = 0.05,
        acquire_timeout: float | None = 300.0,
        timeout: float = 5.0,
    ) -> None:
        for label, value in (
            ("max_running", max_running),
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if value is not None and value < 1:
                raise SpawnError(
                    f"RedisConcurrencyLimiter {label} must be >= 1 (or None for no limit)",
                    code="invalid_options",
                )
        if min(lease_seconds, window_seconds, poll_interval) <= 0 or (
            acquire_timeout is not None and acquire_timeout <= 0
        ):
            raise SpawnError(
                "RedisConcurrencyLimiter lease_seconds, window_seconds, poll_interval and "
                "acquire_timeout must be > 0",
                code="invalid_options",
            )
        self.max_running = max_running
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self.key = key
        self._name = name or key
        self.lease_seconds = lease_seconds
        self.window_seconds = window_seconds
        self.poll_interval = poll_interval
        self.acquire_timeout = acquire_timeout
        tag = "{" + key + "}"
        self._keys = [f"{tag}:running", f"{tag}:requests", f"{tag}:tokens"]
        self._redis = _Connection(url, client, timeout, f"limiter {self._name!r}")
        self._held: list[str] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._renewer: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The limiter's label."""
        return self._name

    @property
    def held_count(self) -> int:
        """Slots this process holds now."""
        return len(self._held)

    async def running_count(self) -> int:
        """Requests in flight across the fleet now (live leases)."""
        return int(await self._redis.script(_COUNT, self._keys[:1], [], code="limiter_unavailable"))

    async def acquire(self, source: str) -> None:
        """Wait for a fleet-wide slot (and rate-window room), then take it.

        Args:
            source: what asks (e.g. `"model:openai:gpt-5.2"`), for spans and errors.
        """
        lease = uuid.uuid4().hex
        wait = await self._try(lease)
        if wait == 0:
            self._took(lease)
            return
        from opentelemetry.trace import get_tracer

        attributes: dict[str, str | int] = {"source": source, "limiter_name": self._name}
        if self.max_running is not None:
            attributes["max_running"] = self.max_running
        span = f"waiting for {self._name} concurrency"
        loop = asyncio.get_running_loop()
        deadline = None if self.acquire_timeout is None else loop.time() + self.acquire_timeout
        with get_tracer("pydantic-ai").start_as_current_span(span, attributes=attributes):
            while wait != 0:
                delay = self.poll_interval * random.uniform(0.5, 1.5)
                if wait > 0:  # a rate window: Redis says when room frees up
                    delay = max(delay, wait / 1000)
                if deadline is not None and loop.time() + delay > deadline:
                    raise SpawnError(
                        f"limiter {self._name!r}: no slot for {source} within "
                        f"{self.acquire_timeout}s (max_running={self.max_running}, "
                        f"requests_per_minute={self.requests_per_minute}, "
                        f"tokens_per_minute={self.tokens_per_minute}); raise the limits or "
                        "acquire_timeout",
                        code="limiter_timeout",
                        details={"transient": True, "limiter": self._name},
                    )
                await asyncio.sleep(delay)
                wait = await self._try(lease)
        self._took(lease)

    async def _try(self, lease: str) -> int:
        args = [
            lease,
            self.max_running or 0,
            self.requests_per_minute or 0,
            self.tokens_per_minute or 0,
            int(self.lease_seconds * 1000),
            int(self.window_seconds * 1000),
        ]
        try:
            return int(await self._redis.script(_ACQUIRE, self._keys, args, "limiter_unavailable"))
        except BaseException:
            # Cancelled (or failed) after Redis may have granted the lease: free it.
            if self.max_running is not None:
                self._spawn(self._free(lease))
            raise

    def _took(self, lease: str) -> None:
        self._held.append(lease)
        if self.max_running is not None and (self._renewer is None or self._renewer.done()):
            self._renewer = asyncio.get_running_loop().create_task(self._renew())

    def release(self) -> None:
        """Give a slot back (synchronous, as PydanticAI calls it; freed in the background)."""
        if not self._held:
            _log().warning("limiter_release_without_acquire", limiter=self._name)
            return
        lease = self._held.pop()
        if self.max_running is None:
            return
        try:
            self._spawn(self._free(lease))
        except RuntimeError:  # no running loop: the lease expires after lease_seconds
            _log().warning("limiter_release_outside_loop", limiter=self._name)

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            raise
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _free(self, lease: str) -> None:
        try:
            await self._redis.call("zrem", self._keys[0], lease, code="limiter_unavailable")
        except SpawnError as exc:  # the lease expires after lease_seconds anyway
            _log().warning("limiter_release_failed", limiter=self._name, error=exc.message)

    async def _renew(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            held = list(self._held)
            if not held:
                return
            try:
                await self._redis.script(
                    _RENEW,
                    self._keys[:1],
                    [int(self.lease_seconds * 1000), *held],
                    code="limiter_unavailable",
                )
            except SpawnError as exc:
                _log().warning("limiter_renew_failed", limiter=self._name, error=exc.message)

    async def record_tokens(self, tokens: int) -> None:
        """Count `tokens` against the `tokens_per_minute` window (no-op without that cap).

        A failure to reach Redis is logged, not raised: the run already happened.
        """
        if self.tokens_per_minute is None or tokens <= 0:
            return
        entry = f"{uuid.uuid4().hex}:{int(tokens)}"
        try:
            await self._redis.script(
                _RECORD_TOKENS,
                self._keys[2:],
                [entry, int(self.window_seconds * 1000)],
                code="limiter_unavailable",
            )
        except SpawnError as exc:
            _log().warning("limiter_record_failed", limiter=self._name, error=exc.message)

    def recorder(self) -> TokenRateRecorder:
        """Middleware that feeds each run's tokens to `record_tokens`:
        `AgentRuntime(middleware=[limiter.recorder()])`."""
        return TokenRateRecorder(self)

    async def reset(self) -> None:
        """Drop every lease and window entry of this key (for tests and operators)."""
        await self._redis.call("delete", *self._keys, code="limiter_unavailable")

    async def aclose(self) -> None:
        """Stop renewing, free this process's leases, close the connection on this loop."""
        if self._renewer is not None:
            self._renewer.cancel()
        held, self._held = list(self._held), []
        if held and self.max_running is not None:
            try:
                await self._redis.call("zrem", self._keys[0], *held, code="limiter_unavailable")
            except SpawnError as exc:
                _log().warning("limiter_release_failed", limiter=self._name, error=exc.message)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._redis.aclose()

    def __repr__(self) -> str:
        return (
            f"RedisConcurrencyLimiter(max_running={self.max_running!r}, "
            f"requests_per_minute={self.requests_per_minute!r}, key={self.key!r})"
        )


class TokenRateRecorder:
    """Middleware that records each successful run's tokens in a limiter's
    `tokens_per_minute` window: `AgentRuntime(middleware=[limiter.recorder()])`.

    Args:
        limiter: the `RedisConcurrencyLimiter` to feed.
    """

    def __init__(self, limiter: _RedisLimiter) -> None:
        self.limiter = limiter

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Run, then record the run's input + output tokens."""
        outcome = await call_next(ctx)
        await self.limiter.record_tokens(outcome.input_tokens + outcome.output_tokens)
        return outcome


if TYPE_CHECKING:

    class RedisConcurrencyLimiter(_RedisLimiter, AbstractConcurrencyLimiter):
        """A PydanticAI `AbstractConcurrencyLimiter` shared across a fleet through Redis."""

else:

    def __getattr__(name: str) -> Any:
        # PydanticAI takes ~1.5 s to import: build the subclass when first asked for.
        if name == "RedisConcurrencyLimiter":
            from pydantic_ai.concurrency import AbstractConcurrencyLimiter

            def body(namespace: dict[str, Any]) -> None:
                namespace.update(__doc__=_RedisLimiter.__doc__, __module__=__name__)

            cls = types.new_class(
                "RedisConcurrencyLimiter", (_RedisLimiter, AbstractConcurrencyLimiter), {}, body
            )
            globals()[name] = cls
            return cls
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""`RedisConcurrencyLimiter` and `TokenRateRecorder`: fleet-wide concurrency limits through Redis.

`RedisConcurrencyLimiter` is a PydanticAI concurrency limiter shared across a fleet through Redis;
`TokenRateRecorder` is the middleware that feeds its tokens-per-minute window.

The `{...}` hash tag keeps a limiter's keys in one Redis Cluster slot:

```
{key}:running              ZSET    lease id -> lease expiry (ms, Redis clock)
{key}:requests             ZSET    lease id -> admission time (ms), the last window
{key}:tokens               ZSET    "<id>:<tokens>" -> record time (ms), the last window
```

Every read-modify-write is one Lua script (`murmur_redis._limit_scripts`). `redis` is
imported on first use, and PydanticAI when `RedisConcurrencyLimiter` is first looked up.
"""

from __future__ import annotations

import asyncio
import random
import types
import uuid
from typing import TYPE_CHECKING, Any

from murmur.core.errors import RegistryError, SpawnError
from murmur_redis._budget import DEFAULT_URL
from murmur_redis._connection import RedisConnection, RedisErrorCodes
from murmur_redis._limit_scripts import ACQUIRE, COUNT, RECORD_TOKENS, RENEW

if TYPE_CHECKING:
    from pydantic_ai.concurrency import AbstractConcurrencyLimiter
    from redis.asyncio import Redis

    from murmur.execution import ExecutionContext, ExecutionOutcome
    from murmur.middleware import Next

__all__ = ["RedisConcurrencyLimiter", "TokenRateRecorder"]

_LIMITER_ERRORS = RedisErrorCodes(
    unavailable="limiter_unavailable",
    timeout="limiter_unavailable",
    error="limiter_unavailable",
    wrong_type="limiter_unavailable",
    wrong_type_hint="a limiter key holds another type: use another key= or delete it",
)


def _log() -> Any:
    import structlog

    return structlog.get_logger("murmur.redis.limits")


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
            within `acquire_timeout`.
        RegistryError: (from a model request) code `"limiter_unavailable"` when Redis does
            not answer (transient).
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
        self._redis = RedisConnection(
            url,
            timeout=timeout,
            what=f"limiter {self._name!r}",
            codes=_LIMITER_ERRORS,
            client=client,
        )
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
        return int(await self._redis.script("a count", COUNT, self._keys[:1], []))

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
            return int(await self._redis.script("an acquire", ACQUIRE, self._keys, args))
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
            await self._redis.call("a release", "zrem", self._keys[0], lease)
        except RegistryError as exc:  # the lease expires after lease_seconds anyway
            _log().warning("limiter_release_failed", limiter=self._name, error=exc.message)

    async def _renew(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_seconds / 3)
            held = list(self._held)
            if not held:
                return
            try:
                await self._redis.script(
                    "a renewal", RENEW, self._keys[:1], [int(self.lease_seconds * 1000), *held]
                )
            except RegistryError as exc:
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
                "recording tokens",
                RECORD_TOKENS,
                self._keys[2:],
                [entry, int(self.window_seconds * 1000)],
            )
        except RegistryError as exc:
            _log().warning("limiter_record_failed", limiter=self._name, error=exc.message)

    def recorder(self) -> TokenRateRecorder:
        """Middleware that feeds each run's tokens to `record_tokens`.

        Use it as `AgentRuntime(middleware=[limiter.recorder()])`.
        """
        return TokenRateRecorder(self)

    async def reset(self) -> None:
        """Drop every lease and window entry of this key (for tests and operators)."""
        await self._redis.call("a reset", "delete", *self._keys)

    async def aclose(self) -> None:
        """Stop renewing, free this process's leases, close the connection on this loop."""
        if self._renewer is not None:
            self._renewer.cancel()
        held, self._held = list(self._held), []
        if held and self.max_running is not None:
            try:
                await self._redis.call("a release", "zrem", self._keys[0], *held)
            except RegistryError as exc:
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
    """Middleware that records each successful run's tokens in a limiter's rate window.

    The window is the limiter's `tokens_per_minute` window. Use it as
    `AgentRuntime(middleware=[limiter.recorder()])`.

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

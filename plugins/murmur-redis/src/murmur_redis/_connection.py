"""`RedisConnection`: how murmur-redis's stores, budgets and limiters reach Redis.

One place opens `redis.asyncio` clients (one per event loop, since a client is bound to the
loop it is used on, or a client the caller gave), bounds every call by `timeout`, runs Lua
scripts by SHA with a fallback to `EVAL`, and turns every Redis failure into the same typed
error: a `RegistryError` whose code the owner chooses (`store_unavailable`,
`budget_unavailable`, ...) and whose message names the server with its password redacted.
The broker transport (`RedisTransport`) keeps its own pooled clients: its failures are
per-run results (`SpawnError`, `broker_*`), handled by the kernel's `JobBackend`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from murmur.core.errors import RegistryError
from murmur.transport import redact_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisConnection", "RedisErrorCodes", "script_sha"]


@dataclass(frozen=True, slots=True)
class RedisErrorCodes:
    """The error codes one owner of a `RedisConnection` reports.

    Attributes:
        unavailable: the server cannot be reached (connection refused, lost, DNS).
        timeout: a call took longer than the connection's `timeout`.
        error: Redis answered with an error.
        wrong_type: a key holds another type than the command expects (`WRONGTYPE`).
        wrong_type_hint: what to do about such a key, appended to the message.
    """

    unavailable: str
    timeout: str
    error: str
    wrong_type: str
    wrong_type_hint: str = ""


class RedisConnection:
    """`redis.asyncio` clients for one URL, and the one mapping of Redis failures to errors.

    Args:
        url: a `redis://` or `rediss://` URL.
        timeout: seconds any one call may take (connecting included).
        what: the owner, for messages (`"the Redis store"`, `"token budget 'team-a'"`).
        codes: the error codes the owner reports.
        client: a client to use instead of opening one per event loop (not closed here).
        decode_responses: return `str` instead of `bytes`.

    Raises:
        RegistryError: code `"invalid_options"` when `timeout` is not positive.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        what: str,
        codes: RedisErrorCodes,
        client: Redis | None = None,
        decode_responses: bool = False,
    ) -> None:
        if timeout <= 0:
            raise RegistryError(f"{what}: timeout must be > 0", code="invalid_options")
        self.url = url
        self.timeout = timeout
        self.what = what
        self.codes = codes
        self.decode_responses = decode_responses
        self._given = client
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def safe_url(self) -> str:
        """The URL with its password replaced by `***`, for messages."""
        return redact_url(self.url)

    def client(self) -> Redis:
        """The client for the running event loop (created on first use)."""
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from redis.asyncio import from_url

            client = from_url(
                self.url,
                decode_responses=self.decode_responses,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
            )
            self._clients[loop] = client
        return client

    @contextlib.asynccontextmanager
    async def guard(self, action: str) -> AsyncGenerator[None, None]:
        """Bound the block by `timeout` and turn Redis failures into typed errors.

        Raises:
            RegistryError: with the owner's code for the failure; unreachable and timed
                out calls are marked `details["transient"]`.
        """
        from redis.exceptions import RedisError

        try:
            async with asyncio.timeout(self.timeout):
                yield
        except (TimeoutError, OSError, RedisError) as exc:
            raise self.error(exc, action) from exc

    def error(self, exc: BaseException, action: str) -> RegistryError:
        """The typed error for a Redis failure during `action` (see `guard`)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        details: dict[str, Any] = {"action": action, "url": self.safe_url}
        text = self._redacted(exc)
        if isinstance(exc, (TimeoutError, RedisTimeoutError)):
            code, transient = self.codes.timeout, True
            message = (
                f"did not finish {action} within {self.timeout}s; check the server (raise "
                "timeout= for slow links)"
            )
        elif isinstance(exc, (RedisConnectionError, OSError)):
            code, transient = self.codes.unavailable, True
            message = f"cannot be reached during {action} ({text}); is the server running?"
        elif isinstance(exc, ResponseError):
            wrong = "WRONGTYPE" in text
            code, transient = (self.codes.wrong_type if wrong else self.codes.error), False
            hint = self.codes.wrong_type_hint if wrong else ""
            message = f"refused {action}: {text}" + (f"; {hint}" if hint else "")
            details["reason"] = text
        else:
            code, transient = self.codes.error, False
            message = f"failed during {action}: {type(exc).__name__}: {text}"
        if transient:
            details["transient"] = True
        return RegistryError(
            f"{self.what}: Redis at {self.safe_url} {message}", code=code, details=details
        )

    def _redacted(self, exc: BaseException) -> str:
        from murmur.transport._base import redact_text

        return redact_text(str(exc), self.url)

    async def call(self, action: str, command: str, *args: Any) -> Any:
        """Run one command (`call("a read", "hget", key, field)`) under `guard`."""
        async with self.guard(action):
            return await getattr(self.client(), command)(*args)

    async def script(
        self, action: str, source: str, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """Run a Lua script by SHA (loading it with `EVAL` when the server lacks it)."""
        from redis.exceptions import NoScriptError

        client = self.client()
        async with self.guard(action):
            try:
                return await client.evalsha(script_sha(source), len(keys), *keys, *args)  # type: ignore[misc]
            except NoScriptError:
                return await client.eval(source, len(keys), *keys, *args)  # type: ignore[misc]

    async def aclose(self, client: Redis | None = None) -> None:
        """Close `client` (one this connection opened, on whatever loop), or the running loop's one.

        Without `client`, it closes the one opened on the running loop. A client given at
        construction stays open.
        """
        if self._given is not None:
            return
        if client is None:
            try:
                client = self._clients.pop(asyncio.get_running_loop(), None)
            except RuntimeError:
                return
        else:
            for loop, held in list(self._clients.items()):
                if held is client:
                    del self._clients[loop]
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), self.timeout)


_SHAS: dict[str, str] = {}


def script_sha(source: str) -> str:
    """The SHA1 Redis knows a Lua script by (cached)."""
    sha = _SHAS.get(source)
    if sha is None:
        sha = _SHAS[source] = hashlib.sha1(source.encode()).hexdigest()
    return sha

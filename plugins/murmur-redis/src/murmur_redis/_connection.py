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

from murmur.core.errors import MurmurError, RegistryError
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
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError, ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        details: dict[str, Any] = {"action": action, "url": self.safe_url}
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except MurmurError:
            raise
        except (TimeoutError, RedisTimeoutError) as exc:
            raise RegistryError(
                f"{self.what}: Redis at {self.safe_url} did not finish {action} within "
                f"{self.timeout}s; check the server (raise timeout= for slow links)",
                code=self.codes.timeout,
                details={**details, "transient": True},
            ) from exc
        except (RedisConnectionError, OSError) as exc:
            raise RegistryError(
                f"{self.what}: cannot reach Redis at {self.safe_url} during {action} "
                f"({self._redacted(exc)}); is the server running and the URL right?",
                code=self.codes.unavailable,
                details={**details, "transient": True},
            ) from exc
        except ResponseError as exc:
            text = self._redacted(exc)
            wrong = "WRONGTYPE" in text
            hint = f"; {self.codes.wrong_type_hint}" if wrong and self.codes.wrong_type_hint else ""
            raise RegistryError(
                f"{self.what}: Redis refused {action}: {text}{hint}",
                code=self.codes.wrong_type if wrong else self.codes.error,
                details={**details, "reason": text},
            ) from exc
        except RedisError as exc:
            raise RegistryError(
                f"{self.what}: Redis failed during {action}: {type(exc).__name__}: "
                f"{self._redacted(exc)}",
                code=self.codes.error,
                details=details,
            ) from exc

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
        """Close `client` (one this connection opened, on whatever loop), or else the one
        opened on the running loop. A client given at construction stays open."""
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

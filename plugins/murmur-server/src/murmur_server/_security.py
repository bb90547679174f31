"""Bearer tokens: what a usable token is, checking one, throttling guessers, loopback detection.

Light on purpose (no FastAPI import): `murmur serve --help` and the package face use it.
"""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from murmur.core.errors import MurmurError

__all__ = [
    "MIN_PUBLIC_TOKEN_LENGTH",
    "TOKEN_ENV_VAR",
    "AuthGuard",
    "check_token",
    "is_loopback",
    "require_token_for_host",
    "token_matches",
    "unauthorized",
]

TOKEN_ENV_VAR = "MURMUR_SERVER_TOKEN"
"""Environment variable `murmur serve` reads the bearer token from."""

MIN_PUBLIC_TOKEN_LENGTH = 16
"""The shortest token `murmur serve` accepts when it listens beyond loopback."""

_MAX_TRACKED_CLIENTS = 10_000


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(token: str) -> None:
    """Refuse a token no client could send in an `Authorization` header.

    Raises:
        MurmurError: code `token_invalid`: empty, or with leading / trailing whitespace or
            control characters (a header cannot carry them, so no request would match).
    """
    if not token or token != token.strip() or any(ord(c) < 32 or ord(c) == 127 for c in token):
        raise MurmurError(
            "the bearer token must be non-empty, without leading or trailing whitespace or "
            "control characters (an Authorization header cannot carry them, so no request "
            "could match it); generate one with: python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'",
            code="token_invalid",
        )


def require_token_for_host(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a strong enough token.

    Raises:
        MurmurError: code `token_required` (no token beyond loopback), `token_too_short`
            (fewer than `MIN_PUBLIC_TOKEN_LENGTH` characters beyond loopback) or
            `token_invalid` (see `check_token`).
    """
    if token:
        check_token(token)
    if is_loopback(host):
        return
    if not token:
        raise MurmurError(
            f"refusing to listen on {host!r} without a bearer token: anyone who can reach it "
            f"could start runs and spend tokens. Pass --token or set {TOKEN_ENV_VAR}, or bind "
            "to 127.0.0.1",
            code="token_required",
        )
    if len(token) < MIN_PUBLIC_TOKEN_LENGTH:
        raise MurmurError(
            f"refusing to listen on {host!r} with a {len(token)}-character token: anyone who "
            f"can reach the port can guess a short token. Use at least "
            f"{MIN_PUBLIC_TOKEN_LENGTH} characters (python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), or bind to 127.0.0.1",
            code="token_too_short",
            details={"length": len(token), "minimum": MIN_PUBLIC_TOKEN_LENGTH},
        )


def _header_bytes(header: bytes | str | None) -> bytes:
    if header is None:
        return b""
    if isinstance(header, bytes):
        return header
    try:  # ASGI servers decode header bytes as Latin-1: this gives the bytes back
        return header.encode("latin-1")
    except UnicodeEncodeError:
        return header.encode("utf-8")


def token_matches(header: bytes | str | None, token: str) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header value.

    The header is compared as bytes with the token's UTF-8 bytes, so a non-ASCII token
    matches a client that sends it UTF-8 encoded (a `str` header is taken as the Latin-1
    decoding ASGI servers produce).
    """
    raw = _header_bytes(header)
    scheme, _, given = raw.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(given.strip(b" \t"), token.encode("utf-8"))


def unauthorized() -> MurmurError:
    """The error for a missing or wrong token."""
    return MurmurError(
        "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the server's "
        f"token (--token / {TOKEN_ENV_VAR}), UTF-8 encoded",
        code="unauthorized",
    )


class AuthGuard:
    """Checks bearer tokens and slows down guessing.

    A client (by address) with `max_failures` wrong tokens within `window` seconds gets `429` for
    every request until the oldest of them is `window` seconds old. A right token clears the
    client's count.

    Args:
        token: the server's token.
        max_failures: wrong attempts allowed per client within `window`.
        window: seconds a failure counts against its client.
        clock: a monotonic clock (a seam for tests).
    """

    def __init__(
        self,
        token: str,
        *,
        max_failures: int = 10,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_token(token)
        if max_failures < 1 or not window > 0:
            raise MurmurError(
                "AuthGuard needs max_failures >= 1 and window > 0", code="invalid_options"
            )
        self.token = token
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures

    def check(self, header: bytes | str | None, client: str) -> MurmurError | None:
        """None when the request may pass; else the error to answer (401 or 429)."""
        now = self._clock()
        failures = self._recent(client, now)
        if failures is not None and len(failures) >= self.max_failures:
            wait = max(1, math.ceil(failures[0] + self.window - now))
            return MurmurError(
                f"{len(failures)} wrong bearer tokens from {client} within {self.window:g} s; "
                f"retry after {wait} s with the right token",
                code="too_many_auth_failures",
                details={"retry_after": wait},
            )
        if token_matches(header, self.token):
            if failures is not None:
                del self._failures[client]
            return None
        if failures is None:
            failures = self._failures[client] = deque()
            if len(self._failures) > _MAX_TRACKED_CLIENTS:
                self._failures.popitem(last=False)
        failures.append(now)
        self._failures.move_to_end(client)
        return unauthorized()

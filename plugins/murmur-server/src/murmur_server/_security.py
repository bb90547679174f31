"""Bearer-token checks, loopback detection, and the request-size limit."""

from __future__ import annotations

import hmac
import ipaddress
import json
from typing import Any

from murmur.core.errors import MurmurError

__all__ = [
    "TOKEN_ENV_VAR",
    "BearerAuthMiddleware",
    "BodyLimitMiddleware",
    "is_loopback",
    "require_token_for_host",
    "token_matches",
    "unauthorized",
]

TOKEN_ENV_VAR = "MURMUR_SERVER_TOKEN"
"""Environment variable `murmur serve` reads the bearer token from."""

ASGIApp = Any


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_token_for_host(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token.

    Raises:
        MurmurError: code `token_required`.
    """
    if not token and not is_loopback(host):
        raise MurmurError(
            f"refusing to listen on {host!r} without a bearer token: anyone who can reach it "
            f"could start runs and spend tokens. Pass --token or set {TOKEN_ENV_VAR}, or bind "
            "to 127.0.0.1",
            code="token_required",
        )


def token_matches(header: str | None, token: str) -> bool:
    """Constant-time check of an `Authorization: Bearer <token>` header value."""
    if not header:
        return False
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def unauthorized() -> MurmurError:
    """The error for a missing or wrong token."""
    return MurmurError(
        "missing or wrong bearer token: send 'Authorization: Bearer <token>' with the server's "
        f"token (--token / {TOKEN_ENV_VAR})",
        code="unauthorized",
    )


async def _send_error(send: Any, status: int, error: MurmurError) -> None:
    body = json.dumps({"error": error.to_dict()}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerAuthMiddleware:
    """Checks the bearer token on every HTTP request except the open paths (`/healthz`)."""

    def __init__(self, app: ASGIApp, token: str, open_paths: frozenset[str]) -> None:
        self.app = app
        self.token = token
        self.open_paths = open_paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)  # CORS preflight carries no credentials
            return
        header = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if token_matches(header, self.token):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _send_error(send, 401, unauthorized())


class BodyLimitMiddleware:
    """Refuses request bodies larger than `max_bytes` with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> MurmurError:
        return MurmurError(
            f"request body larger than {self.max_bytes} bytes; send less (e.g. split a "
            "gather) or raise the server's max_body_bytes",
            code="payload_too_large",
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _send_error(send, 413, self._too_large())
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

"""ASGI middlewares of the standalone app: the bearer-token check and the request-size limit."""

from __future__ import annotations

from typing import Any

from murmur.core.errors import MurmurError
from murmur_server._errors import error_body, error_headers, http_status
from murmur_server._security import AuthGuard

__all__ = ["BearerAuthMiddleware", "BodyLimitMiddleware", "client_address", "send_error"]

ASGIApp = Any


def client_address(scope: Any) -> str:
    """The address of the peer that sent the request ("unknown" when the server has none)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def send_error(send: Any, error: MurmurError) -> None:
    """Answer an HTTP request with the typed error response (status from its code)."""
    status = http_status(error)
    body = error_body(error)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error_headers(error, status).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BearerAuthMiddleware:
    """Checks the bearer token on every request except the open paths (`/healthz`).

    `open_prefixes` (a set the app may add to until it starts: see `serve_without_token`)
    lets whole subtrees of static assets through.
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: AuthGuard,
        open_paths: frozenset[str],
        open_prefixes: set[str] | None = None,
    ) -> None:
        self.app = app
        self.guard = guard
        self.open_paths = open_paths
        self.open_prefixes = open_prefixes if open_prefixes is not None else set()

    def _open(self, path: str) -> bool:
        if path in self.open_paths:
            return True
        return any(path == p or path.startswith(p + "/") for p in self.open_prefixes)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket") or self._open(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http" and scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)  # CORS preflight carries no credentials
            return
        header: bytes | None = None
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                header = value
                break
        error = self.guard.check(header, client_address(scope))
        if error is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await send_error(send, error)


class BodyLimitMiddleware:
    """Refuses request bodies larger than `max_bytes` with 413 (declared or streamed).

    Before answering, it reads and discards the rest of the body (up to `DRAIN_BYTES`), so
    a client that sends a too-large body gets the 413 on a connection that stays usable
    instead of a reset while it is still writing.
    """

    DRAIN_BYTES = 16 * 1_048_576

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> MurmurError:
        return MurmurError(
            f"request body larger than {self.max_bytes} bytes; send less (e.g. split a "
            "gather) or raise the server's max_body_bytes",
            code="payload_too_large",
            details={"max_bytes": self.max_bytes},
        )

    async def _refuse(self, receive: Any, send: Any, more: bool) -> None:
        drained = 0
        while more and drained <= self.DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            drained += len(message.get("body", b""))
            more = bool(message.get("more_body", False))
        await send_error(send, self._too_large())

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
                    await self._refuse(receive, send, declared <= self.DRAIN_BYTES)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > self.max_bytes:
                await self._refuse(receive, send, more)
                return
            chunks.append(chunk)
            if not more:
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

"""A bearer-token check for the standalone Streamable HTTP app (pure ASGI)."""

from __future__ import annotations

import hmac
import json
from typing import Any

__all__ = ["BearerTokenMiddleware"]


class BearerTokenMiddleware:
    """Refuse any HTTP request without `Authorization: Bearer <token>` with 401."""

    def __init__(self, app: Any, *, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"authorization", b"")
        if hmac.compare_digest(given, self._expected):
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": {
                    "type": "AuthenticationError",
                    "code": "unauthorized",
                    "message": "missing or wrong bearer token; send Authorization: Bearer <token>",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

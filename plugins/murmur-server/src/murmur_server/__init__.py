"""murmur-server: the runtime over HTTP (REST + SSE), `murmur serve`, `murmur status`.

```python
from murmur_server import create_app

app = create_app(runtime, token="s3cret")        # a FastAPI app
app.include_router(create_router(runtime))        # or the routes on your own app
```

`SSEEventEmitter` is importable without FastAPI; the app factories import it on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from murmur_server._emitter import SSEEventEmitter
from murmur_server._public import serve_without_token
from murmur_server._security import TOKEN_ENV_VAR, is_loopback, require_token_for_host

if TYPE_CHECKING:
    from murmur_server._app import DEFAULT_MAX_BODY_BYTES, create_app
    from murmur_server._background import BackgroundServer
    from murmur_server._routes import create_router

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "TOKEN_ENV_VAR",
    "BackgroundServer",
    "SSEEventEmitter",
    "create_app",
    "create_router",
    "is_loopback",
    "require_token_for_host",
    "serve_without_token",
]

_LAZY = {
    "create_app": "murmur_server._app",
    "DEFAULT_MAX_BODY_BYTES": "murmur_server._app",
    "create_router": "murmur_server._routes",
    "BackgroundServer": "murmur_server._background",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur_server' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value

"""Path prefixes an app serves without its bearer token (static assets that hold no data).

Kept free of FastAPI imports: `murmur_server` re-exports `serve_without_token` eagerly.
"""

from __future__ import annotations

from typing import Any

from murmur import MurmurError

__all__ = ["public_prefixes", "serve_without_token"]


def public_prefixes(app: Any) -> set[str]:
    """The path prefixes of `app` that `BearerAuthMiddleware` lets through without a token."""
    prefixes = getattr(app.state, "murmur_public_prefixes", None)
    if prefixes is None:
        prefixes = set()
        app.state.murmur_public_prefixes = prefixes
    return prefixes


def serve_without_token(app: Any, prefix: str) -> None:
    """Let requests under `prefix` through `create_app`'s token check.

    For static assets that hold no data (the dashboard's page and scripts, the API docs'
    scripts): a browser loads them before it can send a token. Everything they then ask the
    API for still needs the token. On an app not built by `create_app` this only records the
    prefix (there is no token check to skip).

    ```python
    serve_without_token(app, "/dashboard")
    ```
    """
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise MurmurError(
            f"prefix {prefix!r} must start with '/' and not end with one, e.g. '/dashboard'",
            code="invalid_options",
        )
    public_prefixes(app).add(prefix)

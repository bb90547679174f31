"""`create_app`: the standalone FastAPI app `murmur serve` runs."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from murmur_client import LocalClient
from starlette.exceptions import HTTPException as StarletteHTTPException

from murmur import __version__
from murmur.core.errors import MurmurError
from murmur_server._docs import DOCS_ASSETS_PATH, install_docs
from murmur_server._errors import error_response, http_error, validation_error
from murmur_server._middleware import BearerAuthMiddleware, BodyLimitMiddleware
from murmur_server._public import public_prefixes
from murmur_server._routes import create_router
from murmur_server._security import AuthGuard

if TYPE_CHECKING:
    from murmur.runtime import AgentRuntime

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app"]

log = structlog.get_logger("murmur.server")

DEFAULT_MAX_BODY_BYTES = 1_048_576
"""Largest request body accepted by default (1 MiB)."""

_DESCRIPTION = """\
Start agent, gather and group runs, follow them, read typed results, and watch the
runtime live. Every error is `{"error": {"type", "message", "code", "details"}}`.
"""


def create_app(
    runtime: AgentRuntime,
    *,
    token: str | None = None,
    cors_origins: Sequence[str] | None = None,
    groups: Mapping[str, Any] | Sequence[Any] | None = None,
    prefix: str = "",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ping_interval: float = 10.0,
    max_background_runs: int = 1000,
    max_auth_failures: int = 10,
    auth_failure_window: float = 60.0,
    plugin_routes: bool = True,
    title: str = "murmur",
    mcp_agents: Sequence[str] = (),
) -> FastAPI:
    """A FastAPI app serving `runtime` (what `murmur serve` runs).

    ```python
    app = create_app(runtime, token=os.environ["MURMUR_SERVER_TOKEN"])
    uvicorn.run(app, host="0.0.0.0", port=8420)
    ```

    Args:
        runtime: the runtime to expose.
        token: bearer token every route but `/healthz` requires (docs and plugin routes
            included). Required to listen beyond loopback (`murmur serve` enforces it).
        cors_origins: origins allowed to call the API from a browser (None: CORS off).
        groups: agent groups startable by name.
        prefix: mount the API under this path (e.g. `"/api"`).
        max_body_bytes: larger request bodies get 413.
        ping_interval: seconds between keep-alive comments on `/events/stream`.
        max_background_runs: runs that may execute at once; more get 429.
        max_auth_failures: wrong tokens a client (by address) may send within
            `auth_failure_window` seconds; then every request it sends is 429 until the
            oldest failure is that old.
        auth_failure_window: seconds a wrong token counts against its client.
        plugin_routes: call every plugin's `murmur_server_routes(app)` hook.
        title: the OpenAPI title.
        mcp_agents: agents murmur-mcp serves as MCP tools at `/mcp` (Streamable HTTP,
            behind `token`), through its `murmur_server_routes` hook.
    """
    client = LocalClient(runtime, groups=groups, max_background_runs=max_background_runs)
    _want_fleet_events(runtime)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncGenerator[None]:
        try:
            await runtime.start()  # connect the broker now: fleet events reach the stream
        except MurmurError as exc:
            log.error("runtime failed to start", error=exc.message)
        yield
        await client.shutdown()

    app = FastAPI(
        title=title,
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.murmur = client
    app.state.murmur_api_prefix = prefix
    public = public_prefixes(app)
    public.add(DOCS_ASSETS_PATH)
    install_docs(app, title)
    app.include_router(
        create_router(runtime, token=token, client=client, ping_interval=ping_interval),
        prefix=prefix,
    )
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if token:
        guard = AuthGuard(token, max_failures=max_auth_failures, window=auth_failure_window)
        app.add_middleware(
            BearerAuthMiddleware,
            guard=guard,
            open_paths=frozenset({f"{prefix}/healthz"}),
            open_prefixes=public,
        )
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    unknown = [name for name in mcp_agents if name not in runtime.agents]
    if unknown:
        raise MurmurError(
            f"--mcp names unknown agent(s) {unknown}; registered: {sorted(runtime.agents)}",
            code="not_found",
        )
    app.state.mcp_agents = tuple(mcp_agents)
    app.state.mcp_token_required = bool(token)
    if plugin_routes:
        _plugin_routes(runtime, app)
    if mcp_agents and not any(getattr(r, "path", None) == "/mcp" for r in app.router.routes):
        raise MurmurError(
            "--mcp needs the murmur-mcp plugin to serve agents as MCP tools: "
            "pip install murmur-mcp",
            code="not_found",
        )
    return app


def _install_error_handlers(app: FastAPI) -> None:
    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return error_response(http_error(exc, request))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc))

    async def on_murmur_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, MurmurError)
        return error_response(exc)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled server error", path=request.url.path, error=repr(exc))
        error = MurmurError(
            "internal server error; the server log has the details", code="internal"
        )
        return error_response(error, 500)

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(MurmurError, on_murmur_error)
    app.add_exception_handler(Exception, on_unexpected)


def _want_fleet_events(runtime: AgentRuntime) -> None:
    """Ask a broker backend to relay fleet events (worker heartbeats) to this runtime."""
    backend = runtime.backend
    if getattr(backend, "fleet_events", True) is False:
        if getattr(backend, "_started", False):
            log.warning("the broker backend started without fleet_events: workers won't show")
        else:
            setattr(backend, "fleet_events", True)  # noqa: B010 - not on the Backend ABC


def _plugin_routes(runtime: AgentRuntime, app: FastAPI) -> None:
    """Let plugins (the dashboard) mount routes; a broken plugin never stops the server."""
    try:
        runtime.plugins.server_routes(app)
    except Exception as exc:
        log.warning("plugin routes unavailable", error=repr(exc))

"""Streamable HTTP for the agents' MCP server: a standalone app, or `/mcp` on `murmur serve`.

Two things the MCP SDK leaves to whoever mounts its app: the session manager must run (its
task group) for the app's lifetime, which a mounted app's own lifespan never does, so it is
entered in the host app's lifespan; and its DNS-rebinding check compares the `Host` header
with allowed hosts, which must be the names the server is reached by.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route

from murmur.agent import Agent
from murmur.runtime import AgentRuntime
from murmur_mcp._server import create_mcp_server

__all__ = ["LOOPBACK_HOSTS", "mcp_http_app", "mount_mcp", "transport_security"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

_MCP_PATH = "/mcp"


def transport_security(host: str, *, token_required: bool) -> TransportSecuritySettings:
    """The DNS-rebinding check for a server listening on `host`.

    A loopback server without a token is what DNS rebinding attacks (a page in the user's
    browser reaching localhost), so its `Host` must be a loopback name. A server behind a
    bearer token is safe from it (the attacker's page has no token), and is reached by names
    only its operator knows, so the check is off there.
    """
    if token_required:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )


def _routes_and_manager(
    runtime: AgentRuntime,
    agents: Sequence[str | Agent[Any]],
    security: TransportSecuritySettings,
    path: str,
) -> tuple[list[Any], Any]:
    server = create_mcp_server(runtime, agents)
    inner = server.streamable_http_app(streamable_http_path=path, transport_security=security)
    routes = [r for r in inner.routes if isinstance(r, Route)]
    return routes, server.session_manager


def mcp_http_app(
    runtime: AgentRuntime,
    agents: Sequence[str | Agent[Any]],
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
) -> Starlette:
    """A Starlette app serving the agents' MCP server at `/mcp`.

    It is what `murmur mcp serve --transport streamable-http` runs.

    With `token`, every request needs `Authorization: Bearer <token>`.
    """
    routes, manager = _routes_and_manager(
        runtime, agents, transport_security(host, token_required=bool(token)), _MCP_PATH
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncGenerator[None]:
        async with manager.run():
            yield
        await runtime.aclose()

    app = Starlette(routes=routes, lifespan=lifespan)
    if token:
        from murmur_mcp._auth import BearerTokenMiddleware

        app.add_middleware(BearerTokenMiddleware, token=token)
    return app


def mount_mcp(app: Any, agents: Sequence[str]) -> None:
    """Add `/mcp` to `murmur serve`'s app (behind its bearer token).

    The session manager runs in the app's lifespan.
    """
    runtime: AgentRuntime = app.state.murmur.runtime
    token_required = bool(getattr(app.state, "mcp_token_required", False))
    routes, manager = _routes_and_manager(
        runtime, agents, transport_security("", token_required=token_required), _MCP_PATH
    )
    app.router.routes.extend(routes)
    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(owner: Any) -> AsyncGenerator[Any]:
        async with original(owner) as state, manager.run():
            yield state

    app.router.lifespan_context = lifespan

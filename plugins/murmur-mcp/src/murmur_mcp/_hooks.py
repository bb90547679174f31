"""murmur-mcp's plugin hooks (entry point `murmur.plugins:mcp`)."""

from __future__ import annotations

from typing import Any

from murmur.hookspecs import hookimpl

__all__ = ["murmur_server_routes"]


@hookimpl
def murmur_server_routes(app: Any) -> None:
    """Mount the agents `murmur serve --mcp AGENTS` chose as MCP tools at `/mcp`."""
    agents = tuple(getattr(app.state, "mcp_agents", ()) or ())
    if not agents:
        return
    from murmur_mcp._asgi import mount_mcp

    mount_mcp(app, agents)

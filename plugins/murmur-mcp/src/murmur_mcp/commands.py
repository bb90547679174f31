"""`murmur mcp ...` (entry point `murmur.commands:mcp`); light: imports click only."""

from __future__ import annotations

import click

__all__ = ["mcp_group"]


@click.group(name="mcp")
def mcp_group() -> None:
    """Serve murmur agents as MCP tools."""

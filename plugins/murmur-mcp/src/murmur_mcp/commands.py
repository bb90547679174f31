"""`murmur mcp serve` (entry point `murmur.commands:mcp`).

Light: imports click only; the MCP SDK, uvicorn and the runtime load when the command runs.
"""

from __future__ import annotations

import click

__all__ = ["mcp_group"]

TOKEN_ENV_VAR = "MURMUR_MCP_TOKEN"


@click.group(name="mcp")
def mcp_group() -> None:
    """Serve murmur agents as MCP tools (Claude Desktop, Cursor, any MCP client)."""


@mcp_group.command(name="serve")
@click.option(
    "--agents",
    required=True,
    metavar="A,B",
    help="The agents to expose as MCP tools, comma-separated (no agent is exposed otherwise).",
)
@click.option(
    "--app",
    "app_ref",
    metavar="MODULE:ATTR",
    help="An AgentRuntime, agents (or a function returning them) to serve.",
)
@click.option(
    "--specs", metavar="DIR", type=click.Path(exists=True), help="YAML spec directory to load."
)
@click.option(
    "--transport",
    type=click.Choice(["stdio", "streamable-http"]),
    default="stdio",
    show_default=True,
)
@click.option("--host", default="127.0.0.1", show_default=True, help="streamable-http: address.")
@click.option("--port", default=8421, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token",
    envvar=TOKEN_ENV_VAR,
    help=f"streamable-http: bearer token every request needs (or {TOKEN_ENV_VAR}); "
    "required unless --host is loopback.",
)
@click.option("--broker", metavar="URL", help="Run the agents on this broker's worker fleet.")
@click.option("--store", metavar="URL", help="Record runs and events, e.g. sqlite:///runs.db.")
def serve_command(
    agents: str,
    app_ref: str | None,
    specs: str | None,
    transport: str,
    host: str,
    port: int,
    token: str | None,
    broker: str | None,
    store: str | None,
) -> None:
    """Expose chosen agents as MCP tools over stdio or Streamable HTTP (at /mcp)."""
    from murmur_mcp._cli import ServeOptions, run_serve

    run_serve(
        ServeOptions(
            agents=tuple(a.strip() for a in agents.split(",") if a.strip()),
            app_ref=app_ref,
            specs=specs,
            transport=transport,
            host=host,
            port=port,
            token=token or None,
            broker=broker,
            store=store,
        )
    )

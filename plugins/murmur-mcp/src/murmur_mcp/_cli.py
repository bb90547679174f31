"""What `murmur mcp serve` does: build the runtime, pick the agents, serve MCP."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from murmur.agent import Agent
from murmur.core.errors import MurmurError
from murmur.runtime import AgentRuntime

__all__ = ["ServeOptions", "build_runtime", "run_serve"]


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The options of `murmur mcp serve`."""

    agents: tuple[str, ...]
    app_ref: str | None = None
    specs: str | None = None
    transport: str = "stdio"
    host: str = "127.0.0.1"
    port: int = 8421
    token: str | None = None
    broker: str | None = None
    store: str | None = None


def _import_ref(ref: str) -> Any:
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise click.UsageError(f"--app takes MODULE:ATTR (e.g. my_app:runtime), got {ref!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        value: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.UsageError(f"--app {ref}: cannot import {module_name!r}: {exc}") from None
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise click.UsageError(f"--app {ref}: {module_name!r} has no {attr!r}") from None
    if callable(value) and not isinstance(value, AgentRuntime | Agent):
        value = value()
        if inspect.isawaitable(value):
            value = asyncio.run(_await(value))
    return value


async def _await(awaitable: Any) -> Any:
    return await awaitable


def build_runtime(options: ServeOptions) -> AgentRuntime:
    """The runtime `murmur mcp serve` serves, with its agents registered."""
    if not options.app_ref and not options.specs:
        raise click.UsageError("give the agents with --app MODULE:ATTR or --specs DIR")
    runtime: AgentRuntime | None = None
    agents: list[Agent[Any]] = []
    if options.app_ref:
        value = _import_ref(options.app_ref)
        if isinstance(value, AgentRuntime):
            if options.broker or options.store:
                raise click.UsageError(
                    f"--app {options.app_ref} is a ready AgentRuntime; configure its broker and "
                    "store there instead of --broker / --store"
                )
            runtime = value
        else:
            items = value.values() if isinstance(value, Mapping) else value
            items = [items] if isinstance(items, Agent) else list(items)
            if not all(isinstance(a, Agent) for a in items):
                raise click.UsageError(
                    f"--app {options.app_ref} must name an AgentRuntime, an Agent, or a list or "
                    "dict of agents (or a function returning one)"
                )
            agents = items
    if runtime is None:
        runtime = AgentRuntime(broker=options.broker, store=options.store)
    for agent in agents:
        runtime.register(agent, replace=True)
    if options.specs:
        runtime.load_specs(options.specs, replace=True)
    missing = [name for name in options.agents if name not in runtime.agents]
    if missing:
        known = ", ".join(sorted(runtime.agents)) or "none"
        raise click.UsageError(f"--agents names unknown agent(s) {missing}; loaded: {known}")
    return runtime


def _log_to_stderr() -> None:
    """On stdio, stdout is the MCP channel: murmur's log lines go to stderr."""
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))


async def _serve_stdio(options: ServeOptions) -> None:
    from mcp.server.stdio import stdio_server

    from murmur_mcp._server import create_mcp_server

    runtime = build_runtime(options)
    server = create_mcp_server(runtime, list(options.agents))
    try:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    finally:
        await runtime.aclose()


async def _serve_http(options: ServeOptions) -> None:
    import uvicorn

    from murmur_mcp._asgi import mcp_http_app

    runtime = build_runtime(options)
    app = mcp_http_app(runtime, list(options.agents), host=options.host, token=options.token)
    click.echo(
        f"murmur: serving {len(options.agents)} agent(s) as MCP tools on "
        f"http://{options.host}:{options.port}/mcp",
        err=True,
    )
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_level="warning", timeout_graceful_shutdown=5
    )
    await uvicorn.Server(config).serve()


def run_serve(options: ServeOptions) -> None:
    """Run `murmur mcp serve` until the client disconnects (stdio) or it is interrupted."""
    from murmur_mcp._asgi import LOOPBACK_HOSTS

    if not options.agents:
        raise click.UsageError("--agents needs at least one agent name")
    remote = options.transport == "streamable-http" and options.host not in LOOPBACK_HOSTS
    if remote and not options.token:
        raise click.UsageError(
            f"--host {options.host} is reachable from other machines: set --token (or "
            "MURMUR_MCP_TOKEN) so only clients with it can run agents"
        )
    if options.transport == "stdio":
        _log_to_stderr()
    try:
        asyncio.run(_serve_stdio(options) if options.transport == "stdio" else _serve_http(options))
    except MurmurError as exc:
        raise click.ClickException(exc.message) from None
    except KeyboardInterrupt:
        pass

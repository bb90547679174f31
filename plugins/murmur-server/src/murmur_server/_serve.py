"""What `murmur serve` does: build the runtime, load agents and groups, run uvicorn."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import click

from murmur.agent import Agent
from murmur.core.errors import MurmurError
from murmur.runtime import AgentRuntime
from murmur_server._security import require_token_for_host

__all__ = ["ServeOptions", "load_app_ref", "run_serve"]


@dataclass(slots=True)
class ServeOptions:
    """The options of `murmur serve`."""

    host: str = "127.0.0.1"
    port: int = 8420
    store: str | None = None
    broker: str | None = None
    specs: str | None = None
    app_ref: str | None = None
    token: str | None = None
    cors_origins: tuple[str, ...] = ()
    prefix: str = ""
    max_body_bytes: int = 1_048_576
    log_level: str = "info"
    emitters: tuple[str, ...] = ()
    mcp_agents: tuple[str, ...] = ()
    groups: list[Any] = field(default_factory=list)


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
    return value


def _collect(value: Any, found: dict[str, list[Any]], ref: str, depth: int = 0) -> None:
    from murmur.groups import AgentGroup

    if depth > 3:
        raise click.UsageError(f"--app {ref}: nested too deeply")
    if isinstance(value, AgentRuntime):
        found["runtimes"].append(value)
    elif isinstance(value, Agent):
        found["agents"].append(value)
    elif isinstance(value, AgentGroup):
        found["groups"].append(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect(item, found, ref, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect(item, found, ref, depth + 1)
    elif callable(value):
        produced = value()
        if inspect.isawaitable(produced):
            produced = asyncio.run(_await(produced))
        _collect(produced, found, ref, depth + 1)
    else:
        raise click.UsageError(
            f"--app {ref} is a {type(value).__name__}; point it at an AgentRuntime, an Agent, "
            "an AgentGroup, a list or dict of them, or a function returning one"
        )


async def _await(awaitable: Any) -> Any:
    return await awaitable


def load_app_ref(ref: str) -> tuple[AgentRuntime | None, list[Agent[Any]], list[Any]]:
    """Import `module:attr` and sort what it names into a runtime, agents and groups."""
    found: dict[str, list[Any]] = {"runtimes": [], "agents": [], "groups": []}
    _collect(_import_ref(ref), found, ref)
    if len(found["runtimes"]) > 1:
        raise click.UsageError(f"--app {ref} names {len(found['runtimes'])} runtimes; name one")
    runtime = found["runtimes"][0] if found["runtimes"] else None
    return runtime, found["agents"], found["groups"]


def build_runtime(options: ServeOptions) -> AgentRuntime:
    """The runtime `murmur serve` serves, with its agents and groups registered."""
    runtime: AgentRuntime | None = None
    agents: list[Agent[Any]] = []
    if options.app_ref:
        runtime, agents, options.groups = load_app_ref(options.app_ref)
        if runtime is not None and (options.store or options.broker):
            raise click.UsageError(
                f"--app {options.app_ref} is a ready AgentRuntime; configure its store and "
                "broker there instead of --store / --broker"
            )
    if runtime is None:
        runtime = AgentRuntime(broker=options.broker, store=options.store or "memory://")
    if options.emitters:
        from murmur.cli.worker import resolve_emitters
        from murmur.core.errors import MurmurError
        from murmur.events import MultiEventEmitter

        try:
            extra = resolve_emitters(options.emitters)
        except MurmurError as exc:
            raise click.UsageError(f"--emitter: {exc}") from None
        runtime.event_emitter = MultiEventEmitter([runtime.event_emitter, *extra])
    for agent in agents:
        runtime.register(agent, replace=True)
    if options.specs:
        runtime.load_specs(options.specs, replace=True)
    return runtime


async def _serve(options: ServeOptions) -> None:
    import uvicorn

    from murmur_server._app import create_app

    runtime = build_runtime(options)
    app = create_app(
        runtime,
        token=options.token,
        cors_origins=options.cors_origins or None,
        groups=options.groups,
        prefix=options.prefix,
        max_body_bytes=options.max_body_bytes,
        mcp_agents=options.mcp_agents,
    )
    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        timeout_graceful_shutdown=5,
    )
    groups = len(await app.state.murmur.groups())
    click.echo(
        f"murmur: serving {len(runtime.agents)} agent(s) and {groups} group(s) on "
        f"http://{options.host}:{options.port}{options.prefix} "
        f"(API docs at {options.prefix}/docs)",
        err=True,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await runtime.aclose()


def run_serve(options: ServeOptions) -> None:
    """Run `murmur serve` until interrupted."""
    try:
        require_token_for_host(options.host, options.token)
    except MurmurError as exc:
        raise click.UsageError(exc.message) from None
    try:
        asyncio.run(_serve(options))
    except MurmurError as exc:
        raise click.ClickException(exc.message) from None
    except KeyboardInterrupt:
        pass

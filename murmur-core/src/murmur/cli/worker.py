r"""`murmur worker start`: run a distributed worker from the command line.

```
murmur worker start --agents researcher --broker redis://127.0.0.1:6379 --concurrency 20 \
    --app myproject.agents:runtime
murmur worker start --agents researcher,writer --broker nats://127.0.0.1:4222 --specs specs/
```

Agents are found by name in `--app module:attr` (an `Agent`, a list or dict of agents, an
`AgentRuntime` whose registered agents and tools the worker uses, or a callable returning any
of these) and/or in a YAML spec directory (`--specs`). SIGINT / SIGTERM stop it gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import sys
from collections.abc import Iterable, Mapping
from logging.handlers import MemoryHandler
from typing import Any

import click

__all__ = ["load_app_agents", "resolve_emitters", "worker_group"]


@click.group(name="worker")
def worker_group() -> None:
    """Run distributed workers that execute agents from a broker."""


def _split(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(out))


def load_app_agents(spec: str) -> tuple[dict[str, Any], Any]:
    """The agents named by `--app module:attr`, and the `AgentRuntime` it names (if any).

    Raises:
        click.ClickException: the module or attribute cannot be found, or holds no agents.
    """
    from murmur.agent import Agent
    from murmur.runtime import AgentRuntime

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise click.ClickException(f"--app {spec!r}: expected module:attribute, e.g. app:runtime")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.ClickException(f"--app {spec!r}: cannot import {module_name!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise click.ClickException(
                f"--app {spec!r}: module {module_name!r} has no attribute {attr!r}"
            ) from None
    if callable(target) and not isinstance(target, Agent | AgentRuntime | type):
        target = target()
    if isinstance(target, AgentRuntime):
        return dict(target.agents), target
    if isinstance(target, Agent):
        return {target.name: target}, None
    if isinstance(target, Mapping):
        found = {str(k): v for k, v in target.items() if isinstance(v, Agent)}
    elif isinstance(target, Iterable) and not isinstance(target, str | bytes):
        found = {a.name: a for a in target if isinstance(a, Agent)}
    else:
        found = {}
    if not found:
        raise click.ClickException(
            f"--app {spec!r} is a {type(target).__name__}; point it at an Agent, a list or dict "
            "of agents, or an AgentRuntime with registered agents"
        )
    return found, None


def resolve_emitters(names: Iterable[str]) -> list[Any]:
    """The emitters named on the command line (`--emitter otel`), through the plugin host.

    Raises:
        RegistryError: An unknown name, with the distribution to install when known.
    """
    names = list(names)
    if not names:
        return []
    from murmur.plugins import PluginHost

    host = PluginHost()
    return [host.resolve_emitter(name) for name in names]


def _spec_agents(path: str) -> dict[str, Any]:
    try:
        from murmur.registry import load_specs
    except ImportError as exc:  # pragma: no cover - the registry ships with murmur-core
        raise click.ClickException(f"--specs needs murmur.registry: {exc}") from exc
    from murmur.core.errors import MurmurError

    try:
        return dict(load_specs(path).agents)
    except MurmurError as exc:
        raise click.ClickException(f"--specs {path}: {exc}") from exc


@worker_group.command(name="start")
@click.option(
    "--agents",
    "-a",
    "agent_names",
    multiple=True,
    required=True,
    help="Agent name(s) to consume, comma-separated or repeated.",
)
@click.option(
    "--broker",
    "-b",
    required=True,
    envvar="MURMUR_BROKER",
    help="Broker URL, e.g. redis://127.0.0.1:6379 (env MURMUR_BROKER).",
)
@click.option("--concurrency", "-c", default=20, show_default=True, help="Tasks at once.")
@click.option("--app", "app", default=None, help="module:attr holding agents or an AgentRuntime.")
@click.option(
    "--specs", type=click.Path(exists=True), default=None, help="YAML spec directory or file."
)
@click.option(
    "--signing-key",
    "signing_keys",
    multiple=True,
    envvar="MURMUR_SIGNING_KEY",
    help="HMAC key (repeat for rotation: the first signs). Env MURMUR_SIGNING_KEY.",
)
@click.option("--consumer-id", default=None, help="Stable consumer id (default host-pid).")
@click.option(
    "--log-events/--no-log-events",
    default=True,
    show_default=True,
    help="Log every event through structlog (fleet relays happen either way).",
)
@click.option(
    "--emitter",
    "emitter_names",
    multiple=True,
    envvar="MURMUR_EMITTER",
    help="Also send events to this emitter plugin, e.g. otel (pip install murmur-otel); "
    "repeat for several. Env MURMUR_EMITTER.",
)
@click.option("--heartbeat-interval", default=10.0, show_default=True, help="Seconds.")
@click.option(
    "--reclaim-min-idle-ms",
    default=30_000,
    show_default=True,
    help="Idle time before another worker may take over an un-acked task.",
)
@click.option(
    "--stop-timeout",
    default=30.0,
    show_default=True,
    help="Seconds in-flight tasks get to finish on SIGTERM.",
)
def start_command(
    agent_names: tuple[str, ...],
    broker: str,
    concurrency: int,
    app: str | None,
    specs: str | None,
    signing_keys: tuple[str, ...],
    consumer_id: str | None,
    log_events: bool,
    emitter_names: tuple[str, ...],
    heartbeat_interval: float,
    reclaim_min_idle_ms: int,
    stop_timeout: float,
) -> None:
    """Consume tasks for AGENTS from BROKER until SIGINT/SIGTERM."""
    wanted = _split(agent_names)
    if app is None and specs is None:
        raise click.ClickException(
            "say where the agents are defined: --app module:attr and/or --specs DIR"
        )
    available: dict[str, Any] = {}
    runtime = None
    if specs is not None:
        available.update(_spec_agents(specs))
    if app is not None:
        app_agents, runtime = load_app_agents(app)
        available.update(app_agents)
    missing = [name for name in wanted if name not in available]
    if missing:
        sources = " and ".join(
            s for s in (app and f"--app {app}", specs and f"--specs {specs}") if s
        )
        raise click.ClickException(
            f"agent(s) not found: {', '.join(missing)} (in {sources}; available: "
            f"{', '.join(sorted(available)) or 'none'})"
        )
    from murmur.core.errors import MurmurError
    from murmur.events import LogEventEmitter, MultiEventEmitter, NullEventEmitter
    from murmur.worker import Worker

    keys = [k for k in signing_keys if k] or None
    try:
        extra = resolve_emitters(_split(emitter_names))
        emitter: Any = LogEventEmitter() if log_events else NullEventEmitter()
        if extra:
            emitter = MultiEventEmitter([emitter, *extra])
            if runtime is not None:  # the --app runtime keeps its own emitter, and adds these
                for added in extra:
                    runtime.add_emitter(added)
        worker = Worker(
            broker,
            {name: available[name] for name in wanted},
            concurrency=concurrency,
            signing_key=keys,
            heartbeat_interval=heartbeat_interval,
            reclaim_min_idle_ms=reclaim_min_idle_ms,
            consumer_id=consumer_id,
            runtime=runtime,
            event_emitter=emitter,
            stop_timeout=stop_timeout,
        )
    except MurmurError as exc:
        raise click.ClickException(str(exc)) from exc
    from murmur.transport import redact_url

    banner = (
        f"murmur worker {worker.consumer_id}: serving {', '.join(wanted)} on "
        f"{redact_url(broker)} (concurrency {concurrency}{', signed' if keys else ''})"
    )
    held = _StartupLogs()
    try:
        asyncio.run(_serve(worker, banner, held))
    except MurmurError as exc:  # e.g. the broker cannot be reached: one line, no traceback
        held.drop()
        raise click.ClickException(f"murmur worker: {exc}") from exc
    finally:
        held.release()


class _StartupLogs:
    """Holds back what client libraries log through stdlib `logging` while the worker connects.

    (aiormq logs its own copy of a refused connection.) A start that fails is one line, ours; once
    the worker serves, the held records and later ones are printed. Nothing changes when the
    application configured logging itself.
    """

    def __init__(self) -> None:
        root = logging.getLogger()
        self._target: logging.Handler | None = None
        self._held: MemoryHandler | None = None
        if root.handlers:
            return
        self._target = logging.StreamHandler(sys.stderr)
        self._target.setFormatter(
            logging.Formatter("%(asctime)s [%(levelname)s] %(name)s: %(message)s")
        )
        self._held = MemoryHandler(
            capacity=10_000,
            flushLevel=logging.CRITICAL + 1,
            target=self._target,
            flushOnClose=False,
        )
        root.addHandler(self._held)

    def release(self) -> None:
        """Print what was held, and log straight to stderr from now on."""
        if self._held is None or self._target is None:
            return
        root = logging.getLogger()
        root.removeHandler(self._held)
        self._held.flush()
        root.addHandler(self._target)
        self._held = None

    def drop(self) -> None:
        """Forget what was held: the start failed, and its one line says why."""
        if self._held is not None:
            logging.getLogger().removeHandler(self._held)
            self._held.buffer.clear()
            self._held = None


async def _serve(worker: Any, banner: str, held: _StartupLogs) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.stop()))
    serving = asyncio.create_task(worker.start())
    ready = asyncio.create_task(worker.wait_ready(within_s=float("inf")))
    await asyncio.wait([serving, ready], return_when=asyncio.FIRST_COMPLETED)
    if ready.done() and not ready.cancelled() and ready.exception() is None:
        click.echo(banner, err=True)  # only once connected: a start that fails says one thing
        held.release()
    else:
        ready.cancel()
    await serving

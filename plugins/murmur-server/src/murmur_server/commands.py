"""`murmur serve` and `murmur status` (entry points in the `murmur.commands` group).

This module stays light: FastAPI, uvicorn, httpx and rich are imported when a command runs,
so `murmur --help` does not pay for them.
"""

from __future__ import annotations

import click

from murmur_server._security import TOKEN_ENV_VAR

__all__ = ["serve_command", "status_command"]

_EVENT_TYPES = [
    "agent_spawned",
    "agent_completed",
    "agent_failed",
    "agent_retried",
    "spawn_refused",
    "tool_call_started",
    "tool_call_completed",
    "tool_call_failed",
    "budget_exceeded",
    "group_started",
    "group_completed",
    "group_failed",
    "worker_started",
    "worker_stopped",
    "worker_heartbeat",
    "task_rejected",
    "task_reclaimed",
    "process_started",
    "process_done",
    "process_failed",
    "process_cancelled",
    "process_emitted",
    "endpoint_called",
    "endpoint_returned",
]


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8420, show_default=True, type=click.IntRange(0, 65535))
@click.option("--store", metavar="URL", help="Run/event store, e.g. sqlite:///runs.db.")
@click.option("--broker", metavar="URL", help="Broker of a worker fleet, e.g. redis://host:6379.")
@click.option(
    "--specs", metavar="DIR", type=click.Path(exists=True), help="YAML spec directory to load."
)
@click.option(
    "--app",
    "app_ref",
    metavar="MODULE:ATTR",
    help="An AgentRuntime, agents or groups (or a function returning them) to serve.",
)
@click.option(
    "--token",
    envvar=TOKEN_ENV_VAR,
    help=f"Bearer token every route but /healthz requires (or {TOKEN_ENV_VAR}). "
    "Required unless --host is loopback.",
)
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow a browser origin.")
@click.option("--prefix", default="", help="Mount the API under this path, e.g. /api.")
@click.option("--max-body-bytes", default=1_048_576, show_default=True, type=click.IntRange(1024))
@click.option(
    "--emitter",
    "emitters",
    multiple=True,
    envvar="MURMUR_EMITTER",
    help="Also send events to this emitter plugin, e.g. otel (pip install murmur-otel).",
)
@click.option(
    "--mcp",
    "mcp_agents",
    metavar="A,B",
    help="Also serve these agents as MCP tools (Streamable HTTP at /mcp, behind the same "
    "token; pip install murmur-mcp).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve_command(
    host: str,
    port: int,
    store: str | None,
    broker: str | None,
    specs: str | None,
    app_ref: str | None,
    token: str | None,
    cors_origins: tuple[str, ...],
    prefix: str,
    max_body_bytes: int,
    emitters: tuple[str, ...],
    mcp_agents: str | None,
    log_level: str,
) -> None:
    """Serve the runtime over HTTP: REST, a live SSE event stream, stats."""
    from murmur_server._serve import ServeOptions, run_serve

    run_serve(
        ServeOptions(
            host=host,
            port=port,
            store=store,
            broker=broker,
            specs=specs,
            app_ref=app_ref,
            token=token or None,
            cors_origins=cors_origins,
            prefix=prefix.rstrip("/"),
            max_body_bytes=max_body_bytes,
            log_level=log_level,
            emitters=tuple(e.strip() for v in emitters for e in v.split(",") if e.strip()),
            mcp_agents=tuple(a.strip() for a in (mcp_agents or "").split(",") if a.strip()),
        )
    )


@click.command(name="status")
@click.argument("url", default="http://127.0.0.1:8420")
@click.option("--token", envvar=TOKEN_ENV_VAR, help=f"Bearer token (or {TOKEN_ENV_VAR}).")
@click.option("--json", "as_json", is_flag=True, help="Print events as JSON lines.")
@click.option("--agent", help="Only events of this agent.")
@click.option("--trace", "trace_id", help="Only events of this run and the runs it spawned.")
@click.option(
    "--type", "types", multiple=True, type=click.Choice(_EVENT_TYPES), help="Only these types."
)
@click.option("--last-event-id", help="Replay stored events after this id first.")
@click.option(
    "--max-events", default=0, type=click.IntRange(0), help="Exit after this many events."
)
def status_command(
    url: str,
    token: str | None,
    as_json: bool,
    agent: str | None,
    trace_id: str | None,
    types: tuple[str, ...],
    last_event_id: str | None,
    max_events: int,
) -> None:
    """Tail a server's live events: runs in flight, recent events, spend."""
    from murmur_server._status import StatusOptions, run_status

    run_status(
        StatusOptions(
            url=url,
            token=token or None,
            as_json=as_json,
            agent=agent,
            trace_id=trace_id,
            types=types,
            last_event_id=last_event_id,
            max_events=max_events,
        )
    )

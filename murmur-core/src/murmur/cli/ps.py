"""`murmur ps`: list live agent-process runs, inspect them, talk to them, follow them."""

from __future__ import annotations

import json
from typing import Any

import click

from murmur.core.errors import MurmurError
from murmur.processes._client import LiveRun, live_runs, request, resolve_run, stream

__all__ = ["ps_group"]

_ID_OPTION = click.option(
    "--id", "run_id", default=None, help="Execution id prefix (optional with one live run)."
)


def _run(run_id: str | None) -> LiveRun:
    try:
        return resolve_run(run_id)
    except MurmurError as exc:
        raise click.ClickException(exc.message) from None


def _ask(run: LiveRun, payload: dict[str, Any]) -> Any:
    try:
        return request(run, payload)
    except MurmurError as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc.message}") from None


@click.group(name="ps", invoke_without_command=True)
@click.pass_context
def ps_group(ctx: click.Context) -> None:
    """Live agent-process runs: list them (stale sockets are removed), or a subcommand."""
    if ctx.invoked_subcommand is not None:
        return
    runs = live_runs()
    if not runs:
        click.echo("no live runs")
        return
    for run in runs:
        try:
            status = request(run, {"op": "status"}, timeout=5.0)
            click.echo(
                f"{run.execution_id}  pid {status['pid']}  {status['root']}  {status['status']}"
            )
        except MurmurError as exc:
            click.echo(f"{run.execution_id}  (not answering: {exc.message})")


@ps_group.command(name="status")
@_ID_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the JSON status.")
def status_command(run_id: str | None, as_json: bool) -> None:
    """Processes, agents and endpoints of a live run."""
    status = _ask(_run(run_id), {"op": "status"})
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    click.echo(
        f"run {status['execution_id']}  pid {status['pid']}  {status['status']}  "
        f"logs {status['log_dir']}"
    )
    _print_process(status["processes"], 1)


def _print_process(process: dict[str, Any], depth: int) -> None:
    pad = "  " * depth
    endpoints = ", ".join(
        e["name"] + (" (read-only)" if e["read_only"] else "") for e in process["endpoints"]
    )
    line = f"{pad}{process['name']} [{process['status']}] {process['id'][:12]}"
    click.echo(line + (f"  endpoints: {endpoints}" if endpoints else ""))
    for agent in process["agents"]:
        tools = ", ".join(agent["tools"]) or "-"
        click.echo(
            f"{pad}  agent {agent['name']}  model {agent['model']}  trust {agent['trust_level']}"
            f"  turns {agent['turns']}  tools {tools}"
        )
    for child in process["children"]:
        _print_process(child, depth + 1)


@ps_group.command(name="send")
@click.argument("agent")
@click.argument("message")
@_ID_OPTION
def send_command(agent: str, message: str, run_id: str | None) -> None:
    """Send MESSAGE to AGENT (`name` or `process/name`) and print its reply."""
    reply = _ask(_run(run_id), {"op": "send", "agent": agent, "message": message})
    click.echo(reply if isinstance(reply, str) else json.dumps(reply))


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@ps_group.command(name="call")
@click.argument("endpoint")
@click.argument("arguments", nargs=-1)
@_ID_OPTION
def call_command(endpoint: str, arguments: tuple[str, ...], run_id: str | None) -> None:
    """Call ENDPOINT (`name` or `process/name`) with key=value ARGUMENTS (JSON, else strings)."""
    kwargs: dict[str, Any] = {}
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{argument!r} is not key=value", param_hint="ARGUMENTS")
        kwargs[key] = _value(value)
    result = _ask(_run(run_id), {"op": "call", "endpoint": endpoint, "kwargs": kwargs})
    click.echo(json.dumps(result))


@ps_group.command(name="tail")
@_ID_OPTION
@click.option("--no-replay", is_flag=True, help="Only events from now on.")
def tail_command(run_id: str | None, no_replay: bool) -> None:
    """Print a live run's events as JSON lines until it ends."""
    run = _run(run_id)
    try:
        for event in stream(run, {"op": "tail", "replay": not no_replay}):
            click.echo(json.dumps(event))
    except MurmurError as exc:
        raise click.ClickException(exc.message) from None

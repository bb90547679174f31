"""What `murmur status` does: tail `/events/stream` into a rich live view (or JSON lines)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from murmur.core.errors import MurmurError
from murmur.events import EventType, RuntimeEvent
from murmur.runs import RunStatus
from murmur_server._security import TOKEN_ENV_VAR

if TYPE_CHECKING:
    from murmur_client import MurmurClient, RuntimeStats
    from rich.console import RenderableType

__all__ = ["StatusOptions", "StatusView", "run_status", "why_unavailable"]

_STYLE = {
    EventType.AGENT_COMPLETED: "green",
    EventType.GROUP_COMPLETED: "green",
    EventType.AGENT_FAILED: "red",
    EventType.GROUP_FAILED: "red",
    EventType.TOOL_CALL_FAILED: "red",
    EventType.BUDGET_EXCEEDED: "bold red",
    EventType.TASK_REJECTED: "red",
    EventType.SPAWN_REFUSED: "yellow",
    EventType.AGENT_RETRIED: "yellow",
    EventType.PROCESS_DONE: "green",
    EventType.PROCESS_FAILED: "red",
    EventType.PROCESS_CANCELLED: "yellow",
}


@dataclass(slots=True)
class StatusOptions:
    """The options of `murmur status`."""

    url: str
    token: str | None = None
    as_json: bool = False
    agent: str | None = None
    trace_id: str | None = None
    types: tuple[str, ...] = ()
    last_event_id: str | None = None
    max_events: int = 0


def _short(value: str | None, size: int = 8) -> str:
    return (value or "-")[:size]


def _detail(event: RuntimeEvent) -> str:
    p = event.payload
    if event.event_type is EventType.AGENT_COMPLETED:
        tokens = int(p.get("input_tokens") or 0) + int(p.get("output_tokens") or 0)
        return f"{p.get('duration_ms', 0):.0f} ms, {tokens} tokens"
    if event.event_type in (
        EventType.AGENT_FAILED,
        EventType.GROUP_FAILED,
        EventType.PROCESS_FAILED,
    ):
        return f"{p.get('code', '')}: {p.get('error', '')}"[:80]
    if event.event_type is EventType.PROCESS_EMITTED:
        return f"{p.get('type', '')}: {p.get('data', '')}"[:80]
    if event.event_type in (EventType.ENDPOINT_CALLED, EventType.ENDPOINT_RETURNED):
        return str(p.get("endpoint") or "")
    if event.event_type is EventType.PROCESS_CANCELLED:
        return str(p.get("reason") or "")
    if "tool" in p:
        return str(p["tool"])
    if event.event_type is EventType.WORKER_HEARTBEAT:
        return str(p.get("worker_id") or "")
    return ""


class StatusView:
    """The state behind the live view: what is running, what just happened, what it cost."""

    def __init__(self, url: str, *, recent: int = 12) -> None:
        self.url = url
        self.connection = "connecting"
        self.reason: str | None = None  # why the server cannot be followed right now
        self.reconnects = 0
        self.gaps = 0  # times the stream went on live because the server lost our place
        self.events = 0
        self.recent: deque[RuntimeEvent] = deque(maxlen=recent)
        self.in_flight: dict[str, tuple[str, float]] = {}
        self.completed = 0
        self.failed = 0
        self.tokens = 0
        self.cost_usd = 0.0
        self.stats: RuntimeStats | None = None

    def set_state(self, state: str, reason: str | None = None) -> None:
        """Connection state changes: `connected`, or `disconnected` and why (`reason`)."""
        if state == "disconnected" and self.connection == "connected":
            self.reconnects += 1
        self.connection = "connected" if state == "connected" else "reconnecting"
        self.reason = None if state == "connected" else reason

    def add(self, event: RuntimeEvent) -> None:
        """Account for one event."""
        self.events += 1
        self.recent.append(event)
        trace = event.trace_id or ""
        if event.event_type is EventType.AGENT_SPAWNED:
            self.in_flight[trace] = (event.agent_name or "?", event.timestamp)
        elif event.event_type is EventType.AGENT_COMPLETED:
            self.in_flight.pop(trace, None)
            self.completed += 1
            p = event.payload
            self.tokens += int(p.get("input_tokens") or 0) + int(p.get("output_tokens") or 0)
            self.cost_usd += float(p.get("cost_usd") or 0.0)
        elif event.event_type is EventType.AGENT_FAILED:
            self.in_flight.pop(trace, None)
            self.failed += 1

    def render(self) -> RenderableType:
        """The live view."""
        from rich.console import Group
        from rich.markup import escape
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        now = time.time()
        mark = {"connected": "[green]● connected[/]", "connecting": "[yellow]○ connecting[/]"}
        state = mark.get(self.connection, f"[red]○ reconnecting[/] (drops: {self.reconnects})")
        if self.reason and self.connection != "connected":
            state += f"\n[red]{escape(self.reason)}[/]; retrying"
        gaps = f"  [yellow]resumed live {self.gaps}x (events lost)[/]" if self.gaps else ""
        header = Text.from_markup(
            f"[bold]murmur status[/]  {self.url}  {state}  events: {self.events}{gaps}"
        )
        flight = Table(title=f"In flight ({len(self.in_flight)})", title_justify="left")
        flight.add_column("agent")
        flight.add_column("trace")
        flight.add_column("running", justify="right")
        for trace, (agent, started) in list(self.in_flight.items())[-10:]:
            flight.add_row(agent, _short(trace), f"{max(0.0, now - started):.1f}s")
        recent = Table(title="Recent events", title_justify="left")
        for column in ("time", "event", "agent", "trace", "detail"):
            recent.add_column(column)
        for event in self.recent:
            recent.add_row(
                time.strftime("%H:%M:%S", time.localtime(event.timestamp)),
                Text(event.event_type.value, style=_STYLE.get(event.event_type, "")),
                event.agent_name or "-",
                _short(event.trace_id),
                _detail(event),
            )
        spend = (
            f"completed {self.completed}  failed {self.failed}  tokens {self.tokens}  "
            f"${self.cost_usd:.4f}"
        )
        if self.stats is not None:
            s = self.stats
            workers = sum(1 for w in s.workers if w.status == "alive")
            spend += (
                f"   server: in flight {s.in_flight}, completed {s.completed}, failed "
                f"{s.failed}, tokens {s.input_tokens + s.output_tokens}, ${s.cost_usd:.4f}, "
                f"workers {workers}/{len(s.workers)}"
            )
            if s.budget is not None and s.budget.limit is not None:
                spend += f", budget {s.budget.used}/{s.budget.limit}"
        return Group(header, flight, recent, Panel(spend, title="Spend", title_align="left"))


async def _poll_stats(client: MurmurClient, view: StatusView) -> None:
    while True:
        with contextlib.suppress(MurmurError):
            view.stats = await client.stats()
            if view.events == 0 and not view.in_flight:
                running = await client.runs(status=RunStatus.RUNNING, limit=20)
                for run in running.runs:
                    name = run.agent_name or run.group_name or "?"
                    view.in_flight[run.run_id] = (name, run.created_at)
        await asyncio.sleep(2.0)


async def _tail(options: StatusOptions) -> None:
    from murmur_client import MurmurClient

    view = StatusView(options.url)

    said: list[str | None] = [None]

    def on_state(state: str, reason: str | None = None) -> None:
        view.set_state(state, reason)
        if state == "connected":
            said[0] = None
        elif options.as_json and reason != said[0]:  # once per reason, not per attempt
            click.echo(f"murmur status: {reason}; retrying", err=True)
            said[0] = reason

    def on_gap(error: MurmurError) -> None:
        view.gaps += 1
        if options.as_json:
            click.echo(f"murmur status: {error.message}; continuing live", err=True)

    async with MurmurClient(options.url, token=options.token) as client:
        stream = _follow(client, options, on_state, on_gap)
        try:
            if options.as_json:
                await _json_lines(stream, options.max_events)
            else:
                await _live_view(client, stream, view, options.max_events)
        finally:
            await stream.aclose()  # now, not when the loop shuts down with the client gone


async def _live_view(
    client: Any, stream: AsyncIterator[RuntimeEvent], view: StatusView, max_events: int
) -> None:
    from rich.live import Live

    poller = asyncio.create_task(_poll_stats(client, view))
    try:
        with Live(get_renderable=view.render, refresh_per_second=4, transient=False):
            seen = 0
            async for event in stream:
                view.add(event)
                seen += 1
                if max_events and seen >= max_events:
                    break
    finally:
        poller.cancel()


_RESUME_REFUSED = frozenset({"event_not_found", "resume_too_old"})


_FIRST_RETRY_S = 0.25
_MAX_RETRY_S = 5.0


def why_unavailable(error: MurmurError, url: str) -> str:
    """Why the event stream of the server at `url` cannot be followed, in words a user can act on.

    Nothing listens there, the token is refused, it is not a murmur server, ...
    """
    status = error.details.get("status")
    if status in (401, 403):
        return (
            f"auth failed (HTTP {status}): {error.message}; pass the server's token with "
            f"--token or {TOKEN_ENV_VAR}"
        )
    if status == 429:
        return f"the server is throttling this client (HTTP 429): {error.message}"
    if error.code.startswith("http_"):  # an HTTP error that is not murmur's JSON error body
        return (
            f"not a murmur server at {url}? GET /events/stream answered HTTP {status} without "
            "a murmur error body; check the URL (and --prefix) of `murmur serve`"
        )
    if error.code == "connection_error" and "ConnectError" in error.message:
        return f"connection refused: nothing answers at {url}; is `murmur serve` running there?"
    if error.code == "connection_error":
        return f"the event stream from {url} dropped"
    return error.message


async def _follow(
    client: Any,
    options: StatusOptions,
    on_state: Callable[..., None],
    on_gap: Callable[[MurmurError], None],
) -> AsyncGenerator[RuntimeEvent]:
    """The event stream, followed until interrupted.

    When the server cannot be reached, or refuses the stream, `on_state("disconnected", reason)`
    says why and the stream is retried with backoff, resuming after the last event seen. When the
    server can no longer resume it (a restarted server with an in-memory store), it goes on live: a
    live view would rather show a gap than stop. A `--last-event-id` the server refuses is an error.
    """
    last = options.last_event_id
    delay = _FIRST_RETRY_S
    while True:
        stream = client.events(
            agent=options.agent,
            trace_id=options.trace_id,
            types=list(options.types) or None,
            last_event_id=last,
            reconnect=False,
            on_state=on_state,
        )
        got = False
        try:
            async for event in stream:
                got = True
                delay = _FIRST_RETRY_S
                last = event.id
                yield event
            reason = (
                f"the server at {client.base_url} closed the event stream"
                if got
                else f"the server at {client.base_url} ended the event stream at once "
                "(not a murmur server?)"
            )
        except MurmurError as exc:
            if exc.code in _RESUME_REFUSED:
                if last == options.last_event_id:
                    raise
                on_gap(exc)
                last = None
                continue
            reason = why_unavailable(exc, client.base_url)
            if exc.details.get("status") in (401, 403, 429):
                delay = _MAX_RETRY_S  # a refused token: do not hammer the server
        finally:
            await stream.aclose()
        on_state("disconnected", reason)
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_RETRY_S)


async def _json_lines(stream: Any, max_events: int) -> None:
    seen = 0
    async for event in stream:
        sys.stdout.write(event.to_json() + "\n")
        sys.stdout.flush()
        seen += 1
        if max_events and seen >= max_events:
            return


def run_status(options: StatusOptions) -> None:
    """Run `murmur status` until interrupted (or `max_events`)."""
    try:
        asyncio.run(_tail(options))
    except MurmurError as exc:
        raise click.ClickException(exc.message) from None
    except KeyboardInterrupt:
        pass

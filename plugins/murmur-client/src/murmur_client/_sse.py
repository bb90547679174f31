"""A small incremental parser for `text/event-stream` (the WHATWG server-sent events format)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

__all__ = ["ServerSentEvent", "parse_sse"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched server-sent event."""

    data: str
    id: str | None = None
    event: str = "message"
    retry: int | None = None


async def parse_sse(lines: AsyncIterable[str]) -> AsyncIterator[ServerSentEvent]:
    """Dispatch events from the lines of an event stream (comments and pings are skipped)."""
    data: list[str] = []
    event_id: str | None = None
    event_type = ""
    retry: int | None = None
    async for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent("\n".join(data), event_id, event_type or "message", retry)
            data, event_type, retry = [], "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            event_id = value
        elif name == "event":
            event_type = value
        elif name == "retry" and value.isdigit():
            retry = int(value)

"""The event stream behind `LocalClient.events()`: replay, live, and catch-up after a lag."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from murmur.events import RuntimeEvent
from murmur.runs import EventQuery
from murmur_client._attach import RuntimeAttachment
from murmur_client._broadcast import Lagged
from murmur_client._records import EventFilter

__all__ = ["stream_events"]

_MAX_REMEMBERED = 100_000


async def stream_events(
    state: RuntimeAttachment,
    guard: Callable[[Awaitable[Any]], Awaitable[Any]],
    wanted: EventFilter,
    *,
    trace_id: str | None,
    last_event_id: str | None,
) -> AsyncGenerator[RuntimeEvent]:
    """Stored events after `last_event_id` (or, following a run tree, its stored events),
    then live ones; a lagging subscriber re-reads what it missed from the event store, so
    nothing is lost or repeated."""
    subscription = state.broadcaster.subscribe()
    events_store = state.stores.events
    try:
        backlog: list[RuntimeEvent] = []
        if last_event_id is not None:
            backlog = await guard(events_store.query(EventQuery(after_id=last_event_id)))
        if trace_id is not None:
            tree = await guard(events_store.tree(trace_id))
            traces = [node.trace_id for node in tree.walk()]
            wanted.add_traces(traces)
            if last_event_id is None:  # following a run: what it did so far, then live
                backlog = await guard(events_store.query(EventQuery(trace_ids=traces)))
                backlog.sort(key=lambda e: e.timestamp)
        sent: set[str] = set()
        for event in backlog:
            sent.add(event.id)
            if wanted.accept(event):
                yield event
        while True:
            item = await subscription.get()
            if item is None:
                return
            if isinstance(item, Lagged):
                query = (
                    EventQuery(after_id=item.after_id)
                    if item.after_id is not None
                    else EventQuery(since=item.since)
                )
                for event in await guard(events_store.query(query)):
                    if event.id not in sent:
                        sent.add(event.id)
                        if wanted.accept(event):
                            yield event
                continue
            if item.id in sent:
                continue
            if wanted.accept(item):
                yield item
            if len(sent) > _MAX_REMEMBERED:
                sent.clear()
    finally:
        subscription.close()

"""The event stream behind `LocalClient.events()`: replay, live, and catch-up after a lag.

Everything read from the event store is read in pages of `REPLAY_PAGE` events, so a
subscriber holds at most one page in memory however many events are stored; a resume
(`last_event_id`) is checked first and refused when the id is unknown or more than
`MAX_REPLAY` events behind.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from murmur.core.errors import MurmurError
from murmur.events import RuntimeEvent
from murmur.runs import EventQuery, EventStore
from murmur_client._attach import RuntimeAttachment
from murmur_client._broadcast import Lagged
from murmur_client._records import EventFilter

__all__ = ["MAX_REPLAY", "REPLAY_PAGE", "check_resume", "stream_events"]

REPLAY_PAGE = 500
"""Events read from the store per query while replaying."""

MAX_REPLAY = 10_000
"""The most stored events a resume (`Last-Event-ID`) replays; further behind is refused."""

_MAX_REMEMBERED = 100_000

Guard = Callable[[Awaitable[Any]], Awaitable[Any]]


async def _pages(
    events: EventStore, guard: Guard, query: EventQuery
) -> AsyncIterator[RuntimeEvent]:
    """Every event matching `query`, read `REPLAY_PAGE` at a time."""
    page_query = replace(query, limit=REPLAY_PAGE)
    while True:
        page: list[RuntimeEvent] = await guard(events.query(page_query))
        for event in page:
            yield event
        if len(page) < REPLAY_PAGE:
            return
        page_query = replace(page_query, after_id=page[-1].id)


async def check_resume(
    events: EventStore, guard: Guard, last_event_id: str, *, max_replay: int = MAX_REPLAY
) -> None:
    """Refuse a resume point the stream cannot replay from, before anything is sent.

    Raises:
        MurmurError: code `event_not_found` when the store holds no event `last_event_id`
            (never stored, or no longer); `resume_too_old` when more than `max_replay`
            events were stored after it.
    """
    after = await guard(events.query(EventQuery(after_id=last_event_id, limit=1)))
    first = await guard(events.query(EventQuery(limit=1)))
    # A store replays an unknown id from its first event; a known id is never followed by it.
    if not first or (after and after[0].id == first[0].id):
        raise MurmurError(
            f"no stored event {last_event_id[:128]!r} to resume after (never stored, or no "
            "longer kept); reconnect without Last-Event-ID / ?after= for live events, and "
            "read runs from GET /runs",
            code="event_not_found",
            details={"last_event_id": last_event_id[:128]},
        )
    behind = 0
    async for _ in _pages(events, guard, EventQuery(after_id=last_event_id)):
        behind += 1
        if behind > max_replay:
            raise MurmurError(
                f"more than {max_replay} events were stored after {last_event_id[:128]!r}; "
                "a resume replays at most that many. Reconnect without Last-Event-ID / "
                "?after= for live events, and read what you missed from GET /runs",
                code="resume_too_old",
                details={"last_event_id": last_event_id[:128], "max_replay": max_replay},
            )


async def stream_events(
    state: RuntimeAttachment,
    guard: Guard,
    wanted: EventFilter,
    *,
    trace_id: str | None,
    last_event_id: str | None,
) -> AsyncGenerator[RuntimeEvent]:
    """Stored events after `last_event_id`, then live ones, nothing lost or repeated.

    Following a run tree, its stored events come first. A lagging subscriber re-reads what it missed
    from the event store, so nothing is lost or repeated.

    Raises:
        MurmurError: (on the first iteration) see `check_resume`.
    """
    subscription = state.broadcaster.subscribe()
    events_store = state.stores.events
    try:
        backlog: EventQuery | None = None
        if last_event_id is not None:
            await check_resume(events_store, guard, last_event_id)
            backlog = EventQuery(after_id=last_event_id)
        if trace_id is not None:
            tree = await guard(events_store.tree(trace_id))
            traces = [node.trace_id for node in tree.walk()]
            wanted.add_traces(traces)
            if last_event_id is None:  # following a run: what it did so far, then live
                backlog = EventQuery(trace_ids=traces)
        sent: set[str] = set()
        if backlog is not None:
            async for event in _pages(events_store, guard, backlog):
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
                async for event in _pages(events_store, guard, query):
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

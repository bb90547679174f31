"""What a `LocalClient` adds to a runtime, once per runtime: a store, a broadcaster, counters.

Every `LocalClient` (and the server built on one) over the same runtime shares this state, so
runs started through one client are visible to the others.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from murmur.events import (
    EventEmitter,
    EventType,
    MultiEventEmitter,
    NullEventEmitter,
    RuntimeEvent,
)
from murmur.runs import RunRecord, StoreEventEmitter, Stores, memory_store_factory
from murmur_client._broadcast import EventBroadcaster
from murmur_client._rollups import WorkerTable

if TYPE_CHECKING:
    from murmur.runtime import AgentRuntime

__all__ = ["RuntimeAttachment", "attach"]


def _log() -> Any:
    import structlog  # imported on first use: it pulls in rich when that is installed

    return structlog.get_logger("murmur.client")


_ATTACHED: weakref.WeakKeyDictionary[Any, RuntimeAttachment] = weakref.WeakKeyDictionary()


def _walk(emitter: Any) -> Iterator[Any]:
    yield emitter
    for child in getattr(emitter, "emitters", ()) or ():
        yield from _walk(child)
    inner = getattr(emitter, "inner", None)
    if inner is not None:
        yield from _walk(inner)


def _without(emitter: Any, target: Any) -> Any:
    """`emitter` with `target` taken out of every `MultiEventEmitter` in it."""
    if emitter is target:
        return NullEventEmitter()
    if isinstance(emitter, MultiEventEmitter):
        kept = [_without(e, target) for e in emitter.emitters if e is not target]
        return MultiEventEmitter(kept) if kept else NullEventEmitter()
    return emitter


class _ObservingEmitter:
    """Delivers to the runtime's emitters (store included) first, then observes and publishes.

    The order matters: an event a live subscriber sees is already in the event store, so a
    subscriber resuming after it (`Last-Event-ID`) finds it there.
    """

    def __init__(
        self,
        inner: EventEmitter,
        attachment: RuntimeAttachment,
        broadcaster: EventBroadcaster,
    ) -> None:
        self.inner = inner
        self._attachment = attachment
        self._broadcaster = broadcaster

    async def emit(self, event: RuntimeEvent) -> None:
        """Deliver, observe, publish."""
        try:
            await self.inner.emit(event)
        except Exception as exc:  # an emitter must never fail a run
            _log().warning("emitter_failed", event_type=event.event_type.value, error=repr(exc))
        self._attachment.observe(event)
        self._broadcaster.publish(event)


class RuntimeAttachment:
    """Shared per-runtime state: stores, broadcaster, background runs and live counters."""

    def __init__(self, runtime: AgentRuntime, *, max_queue: int = 1000) -> None:
        self.runtime = runtime
        if runtime.stores is None:
            stores: Stores = memory_store_factory()
            runtime.stores = stores
            runtime.event_emitter = MultiEventEmitter(
                [runtime.event_emitter, StoreEventEmitter(stores.events)]
            )
        self.stores: Stores = runtime.stores
        existing = next(
            (e for e in _walk(runtime.event_emitter) if isinstance(e, EventBroadcaster)), None
        )
        self.broadcaster = existing or EventBroadcaster(max_queue=max_queue)
        # A broadcaster the user put among the emitters moves after them (and the store).
        inner = (
            runtime.event_emitter if existing is None else _without(runtime.event_emitter, existing)
        )
        runtime.event_emitter = _ObservingEmitter(inner, self, self.broadcaster)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.reserved: dict[str, RunRecord] = {}  # started here, until their task ends
        self.workers = WorkerTable()
        self.started_at = time.time()
        self.in_flight: dict[str, float] = {}
        self.completed = 0
        self.failed = 0
        self.cancelled = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.events_seen = 0
        self._progress: dict[str, list[int]] = {}

    def observe(self, event: RuntimeEvent) -> None:
        """Update counters from one event (cheap and synchronous)."""
        self.events_seen += 1
        kind = event.event_type
        trace_id = event.trace_id or ""
        if kind is EventType.AGENT_SPAWNED:
            self.in_flight[trace_id] = event.timestamp
        elif kind is EventType.AGENT_COMPLETED:
            self.in_flight.pop(trace_id, None)
            self.completed += 1
            payload = event.payload
            self.input_tokens += _int(payload.get("input_tokens"))
            self.output_tokens += _int(payload.get("output_tokens"))
            cost = payload.get("cost_usd")
            if isinstance(cost, int | float) and not isinstance(cost, bool):
                self.cost_usd += float(cost)
            self._count(event.parent_trace_id, 0)
        elif kind is EventType.AGENT_FAILED:
            self.in_flight.pop(trace_id, None)
            if event.payload.get("code") == "cancelled":
                self.cancelled += 1
            else:
                self.failed += 1
            self._count(event.parent_trace_id, 1)
        else:
            self.workers.observe(event)

    def _count(self, parent: str | None, slot: int) -> None:
        if parent is not None and parent in self._progress:
            self._progress[parent][slot] += 1

    def watch_children(self, run_id: str) -> None:
        """Start counting completed / failed runs whose parent is `run_id` (gather progress)."""
        self._progress.setdefault(run_id, [0, 0])

    def children_progress(self, run_id: str) -> tuple[int, int] | None:
        """(completed, failed) children of a watched run, or None."""
        counts = self._progress.get(run_id)
        return None if counts is None else (counts[0], counts[1])

    def unwatch_children(self, run_id: str) -> None:
        """Stop counting children of `run_id`."""
        self._progress.pop(run_id, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def attach(runtime: AgentRuntime, *, max_queue: int = 1000) -> RuntimeAttachment:
    """The runtime's shared attachment, created on first use."""
    attachment = _ATTACHED.get(runtime)
    if attachment is None:
        attachment = _ATTACHED[runtime] = RuntimeAttachment(runtime, max_queue=max_queue)
    return attachment

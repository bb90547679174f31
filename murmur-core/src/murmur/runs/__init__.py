"""Run and event stores: interfaces, the in-memory concretes, and the recording emitter.

Persistent stores are plugins selected by URL: `AgentRuntime(store="sqlite:///runs.db")`.
"""

from __future__ import annotations

from murmur.events import RuntimeEvent
from murmur.runs._base import (
    EventQuery,
    EventStore,
    RunRecord,
    RunStatus,
    RunStore,
    RunTree,
    Stores,
    build_tree,
    encode_event,
    encode_record,
)
from murmur.runs._buffer import Batch, WriteBuffer
from murmur.runs._memory import InMemoryEventStore, InMemoryRunStore
from murmur.runs._shared import SharedStoreClient, SharedStoreUser
from murmur.runs._url import StoreURL, parse_store_url, url_flag

__all__ = [
    "Batch",
    "EventQuery",
    "EventStore",
    "InMemoryEventStore",
    "InMemoryRunStore",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "RunTree",
    "SharedStoreClient",
    "SharedStoreUser",
    "StoreEventEmitter",
    "StoreURL",
    "Stores",
    "WriteBuffer",
    "build_tree",
    "encode_event",
    "encode_record",
    "memory_store_factory",
    "parse_store_url",
    "url_flag",
]


class StoreEventEmitter:
    """Records every event into an `EventStore` (wired automatically when a store is set).

    An event the store cannot take (not JSON, store unreachable) is logged and counted in
    `failed`, and never fails the run that emitted it.
    """

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.failed = 0

    async def emit(self, event: RuntimeEvent) -> None:
        """Append the event; a failure is logged and counted, never raised."""
        try:
            await self.store.append(event)
        except Exception as exc:
            self.failed += 1
            import structlog

            structlog.get_logger("murmur.runs").error(
                "store_event_append_failed",
                event_id=event.id,
                event_type=event.event_type.value,
                trace_id=event.trace_id,
                error=str(exc),
                failed_total=self.failed,
            )


def memory_store_factory(url: str = "memory://") -> Stores:
    """Entry point `murmur.stores:memory`."""
    return Stores(runs=InMemoryRunStore(), events=InMemoryEventStore())

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
)
from murmur.runs._memory import InMemoryEventStore, InMemoryRunStore

__all__ = [
    "EventQuery",
    "EventStore",
    "InMemoryEventStore",
    "InMemoryRunStore",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "RunTree",
    "StoreEventEmitter",
    "Stores",
    "build_tree",
    "memory_store_factory",
]


class StoreEventEmitter:
    """Records every event into an `EventStore` (wired automatically when a store is set)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def emit(self, event: RuntimeEvent) -> None:
        """Append the event."""
        await self.store.append(event)


def memory_store_factory(url: str = "memory://") -> Stores:
    """Entry point `murmur.stores:memory`."""
    return Stores(runs=InMemoryRunStore(), events=InMemoryEventStore())

"""In-memory run and event stores (the default when no store URL is given)."""

from __future__ import annotations

import builtins
import copy
from collections.abc import Sequence
from typing import Any

from murmur.events._model import RuntimeEvent
from murmur.runs._base import (
    EventQuery,
    EventStore,
    RunRecord,
    RunStatus,
    RunStore,
    Stores,
    encode_event,
    encode_record,
)

__all__ = ["InMemoryEventStore", "InMemoryRunStore", "memory_store_factory"]


class InMemoryRunStore(RunStore):
    """Runs in a dict; gone when the process exits."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRecord] = {}
        self._checkpoints: dict[str, dict[str, Any]] = {}

    async def put(self, record: RunRecord) -> None:
        """Insert or replace (a record a persistent store could not keep is refused here too).

        Raises:
            RegistryError: code `"not_json"`.
        """
        encode_record(record)
        self._runs[record.run_id] = record.model_copy(deep=True)

    async def get(self, run_id: str) -> RunRecord | None:
        """One run."""
        record = self._runs.get(run_id)
        return None if record is None else record.model_copy(deep=True)

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        agent_name: str | None = None,
        parent_trace_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord]:
        """Filtered, newest first."""
        rows = [
            r
            for r in self._runs.values()
            if (status is None or r.status == status)
            and (agent_name is None or r.agent_name == agent_name)
            and (parent_trace_id is None or r.parent_trace_id == parent_trace_id)
            and (kind is None or r.kind == kind)
        ]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return [r.model_copy(deep=True) for r in rows[offset : offset + limit]]

    async def put_checkpoint(self, run_id: str, key: str, value: Any) -> None:
        """Save one checkpoint (a deep copy, like `put`)."""
        self._checkpoints.setdefault(run_id, {})[key] = copy.deepcopy(value)

    async def checkpoints(self, run_id: str) -> dict[str, Any]:
        """Every checkpoint of `run_id`."""
        return copy.deepcopy(self._checkpoints.get(run_id, {}))


class InMemoryEventStore(EventStore):
    """Events in a list, in append order."""

    def __init__(self) -> None:
        self._events: list[RuntimeEvent] = []
        self._index: dict[str, int] = {}
        self._by_parent: dict[str, list[RuntimeEvent]] = {}

    async def append(self, event: RuntimeEvent) -> None:
        """Append one event (an event a persistent store could not keep is refused here too).

        Raises:
            RegistryError: code `"not_json"`.
        """
        encode_event(event)
        self._index[event.id] = len(self._events)
        self._events.append(event)
        if event.parent_trace_id is not None:
            self._by_parent.setdefault(event.parent_trace_id, []).append(event)

    async def query(self, query: EventQuery | None = None) -> list[RuntimeEvent]:
        """Matching events, oldest first."""
        q = query or EventQuery()
        start = 0
        if q.after_id is not None:
            start = self._index.get(q.after_id, -1) + 1
        out: list[RuntimeEvent] = []
        for event in self._events[start:]:
            if q.matches(event):
                out.append(event)
                if q.limit is not None and len(out) >= q.limit:
                    break
        return out

    async def children_events(self, parent_trace_ids: Sequence[str]) -> list[RuntimeEvent]:
        """Indexed by parent trace id."""
        return [e for p in parent_trace_ids for e in self._by_parent.get(p, [])]


def memory_store_factory(url: str = "memory://") -> Stores:
    """Entry point `murmur.stores:memory`."""
    return Stores(runs=InMemoryRunStore(), events=InMemoryEventStore())

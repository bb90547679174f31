"""`RunStore` and `EventStore`: the interfaces persistent stores implement."""

from __future__ import annotations

import asyncio
import builtins
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from murmur.core.errors import RegistryError
from murmur.events._model import EventType, RuntimeEvent

__all__ = [
    "EventQuery",
    "EventStore",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "RunTree",
    "Stores",
    "build_tree",
    "encode_event",
    "encode_record",
]


def _not_json(what: str, exc: Exception) -> RegistryError:
    reason = str(exc).removeprefix("Error serializing to JSON: ")
    return RegistryError(
        f"{what} cannot be stored: it is not JSON-serialisable as UTF-8 ({reason}); "
        "keep inputs, outputs, metadata and event payloads to JSON types (str without lone "
        "surrogates, numbers, bool, None, lists, dicts, pydantic models)",
        code="not_json",
        details={"reason": reason},
    )


def encode_event(event: RuntimeEvent) -> str:
    """The JSON a store keeps for `event`, checked before it enters any write batch.

    Raises:
        RegistryError: code `"not_json"` when the event cannot be stored (an unknown
            object or a lone surrogate in its payload); nothing is buffered.
    """
    try:
        return event.to_json()
    except Exception as exc:  # pydantic's serialisation error; a bad value, never a bug here
        raise _not_json(f"event {event.id} ({event.event_type.value})", exc) from None


def encode_record(record: RunRecord) -> str:
    """The JSON a store keeps for `record`, checked before it enters any write batch.

    Raises:
        RegistryError: code `"not_json"` when the record cannot be stored.
    """
    try:
        return record.model_dump_json()
    except Exception as exc:  # pydantic's serialisation error: a bad value in the record
        raise _not_json(f"run record {record.run_id!r}", exc) from None


class RunStatus(StrEnum):
    """Where a run is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for completed, failed and cancelled runs."""
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class RunRecord(BaseModel):
    """One run as a store keeps it. `run_id` is the run's trace id."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    run_id: str
    kind: str = "agent"
    agent_name: str | None = None
    task_id: str | None = None
    trace_id: str | None = None
    parent_trace_id: str | None = None
    status: RunStatus = RunStatus.PENDING
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    progress: dict[str, Any] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A filter over stored events; every field left None matches everything."""

    trace_id: str | None = None
    trace_ids: Sequence[str] | None = None
    agent_name: str | None = None
    event_types: Sequence[EventType] | None = None
    since: float | None = None
    until: float | None = None
    after_id: str | None = None
    limit: int | None = None

    def matches(self, event: RuntimeEvent) -> bool:
        """True when `event` passes every set filter (ignores `after_id` and `limit`)."""
        if self.trace_id is not None and event.trace_id != self.trace_id:
            return False
        if self.trace_ids is not None and event.trace_id not in self.trace_ids:
            return False
        if self.agent_name is not None and event.agent_name != self.agent_name:
            return False
        if self.event_types is not None and event.event_type not in self.event_types:
            return False
        if self.since is not None and event.timestamp < self.since:
            return False
        return not (self.until is not None and event.timestamp > self.until)


@dataclass(slots=True)
class RunTree:
    """A run and the runs it spawned, rebuilt from parent links."""

    trace_id: str
    agent_name: str | None = None
    task_id: str | None = None
    status: str | None = None
    children: list[RunTree] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe nested form."""
        return {
            "trace_id": self.trace_id,
            "agent_name": self.agent_name,
            "task_id": self.task_id,
            "status": self.status,
            "children": [c.to_dict() for c in self.children],
        }

    def walk(self) -> Iterable[RunTree]:
        """This node and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


_STATUS_BY_EVENT = {
    EventType.AGENT_SPAWNED: "running",
    EventType.AGENT_COMPLETED: "completed",
    EventType.AGENT_FAILED: "failed",
    EventType.SPAWN_REFUSED: "refused",
    EventType.GROUP_STARTED: "running",
    EventType.GROUP_COMPLETED: "completed",
    EventType.GROUP_FAILED: "failed",
    EventType.PROCESS_STARTED: "running",
    EventType.PROCESS_DONE: "completed",
    EventType.PROCESS_FAILED: "failed",
    EventType.PROCESS_CANCELLED: "cancelled",
}


def build_tree(root_trace_id: str, events: Iterable[RuntimeEvent]) -> RunTree:
    """Rebuild the spawn tree under `root_trace_id` from events (any order)."""
    nodes: dict[str, RunTree] = {}
    parents: dict[str, str | None] = {}
    for event in events:
        if event.trace_id is None:
            continue
        node = nodes.get(event.trace_id)
        if node is None:
            node = nodes[event.trace_id] = RunTree(trace_id=event.trace_id)
        node.agent_name = node.agent_name or event.agent_name
        node.task_id = node.task_id or event.task_id
        status = _STATUS_BY_EVENT.get(event.event_type)
        if status is not None and (node.status in (None, "running") or status != "running"):
            node.status = status
        if event.parent_trace_id is not None:
            parents[event.trace_id] = event.parent_trace_id
    root = nodes.get(root_trace_id) or RunTree(trace_id=root_trace_id)
    for trace_id, parent_id in parents.items():
        parent = nodes.get(parent_id) if parent_id else None
        if parent is not None and trace_id != parent_id:
            parent.children.append(nodes[trace_id])
    return root


class RunStore(ABC):
    """Keeps each run's status, progress, result or error, and parent/child links."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abstractmethod
    async def put(self, record: RunRecord) -> None:
        """Insert or replace a run."""

    async def put_soon(self, record: RunRecord) -> None:
        """Insert or replace a run that is only starting, possibly buffered.

        A store may buffer it and write it with its next write instead of before returning (the
        run's final record is written with `put`, and replaces it). Reads in this process see it at
        once.

        The default is `put`.
        """
        await self.put(record)

    @abstractmethod
    async def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""

    @abstractmethod
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
        """Runs matching every given filter, newest first."""

    async def children(self, trace_id: str) -> builtins.list[RunRecord]:
        """Runs whose parent is `trace_id`."""
        return await self.list(parent_trace_id=trace_id, limit=10_000)

    async def put_checkpoint(self, run_id: str, key: str, value: Any) -> None:
        """Save one JSON-safe checkpoint of a run under `key` (replacing an older one).

        Durable runs checkpoint each finished step (a group node's output, a gather
        task's result) so a resumed run skips it. Stores override this with a native,
        atomic write; this default keeps checkpoints in the run record's
        `progress["checkpoints"]`, so there the run must have been `put` first.

        Raises:
            RegistryError: (default implementation only) no run `run_id` is stored.
        """
        lock = self.__dict__.setdefault("_checkpoint_lock", asyncio.Lock())
        async with lock:
            record = await self.get(run_id)
            if record is None:
                raise RegistryError(
                    f"no run {run_id!r} to checkpoint: put the run record first",
                    code="run_not_found",
                )
            record.progress.setdefault("checkpoints", {})[key] = value
            await self.put(record)

    async def checkpoints(self, run_id: str) -> dict[str, Any]:
        """Every checkpoint saved for `run_id`, by key ({} when there are none)."""
        record = await self.get(run_id)
        if record is None:
            return {}
        return dict(record.progress.get("checkpoints") or {})

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class EventStore(ABC):
    """Appends `RuntimeEvent`s and answers queries and run trees."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abstractmethod
    async def append(self, event: RuntimeEvent) -> None:
        """Store one event."""

    async def append_many(self, events: Sequence[RuntimeEvent]) -> None:
        """Store several events (stores override this to batch).

        An event the store refuses does not stop the others: they are stored, then the
        first refusal is raised.
        """
        refused: Exception | None = None
        for event in events:
            try:
                await self.append(event)
            except RegistryError as exc:
                refused = refused or exc
        if refused is not None:
            raise refused

    @abstractmethod
    async def query(self, query: EventQuery | None = None) -> list[RuntimeEvent]:
        """Events matching `query`, oldest first; `after_id` resumes after that event."""

    async def tree(self, root_trace_id: str) -> RunTree:
        """The whole spawn tree under `root_trace_id`."""
        seen: set[str] = set()
        frontier = [root_trace_id]
        collected: list[RuntimeEvent] = []
        while frontier:
            batch = [t for t in frontier if t not in seen]
            seen.update(batch)
            if not batch:
                break
            events = await self.query(EventQuery(trace_ids=batch))
            events += await self.children_events(batch)
            collected.extend(events)
            frontier = [
                e.trace_id
                for e in events
                if e.parent_trace_id in batch and e.trace_id and e.trace_id not in seen
            ]
        return build_tree(root_trace_id, collected)

    async def children_events(self, parent_trace_ids: Sequence[str]) -> list[RuntimeEvent]:
        """Events whose parent is one of `parent_trace_ids` (stores index this)."""
        wanted = set(parent_trace_ids)
        return [e for e in await self.query() if e.parent_trace_id in wanted]

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


@dataclass(slots=True)
class Stores:
    """What a store URL resolves to: a run store and an event store."""

    runs: RunStore
    events: EventStore

    async def aclose(self) -> None:
        """Close both stores."""
        await self.runs.aclose()
        if self.events is not self.runs:  # type: ignore[comparison-overlap]
            await self.events.aclose()

"""`RuntimeEvent` and `EventType`: the typed record of everything a runtime does."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from murmur.core.ids import new_id
from murmur.core.trusted import trusted_model

__all__ = ["EventType", "RuntimeEvent", "run_event"]


class EventType(StrEnum):
    """Every kind of event a runtime, group, or worker emits."""

    AGENT_SPAWNED = "agent_spawned"
    AGENT_COMPLETED = "agent_completed"
    AGENT_FAILED = "agent_failed"
    AGENT_RETRIED = "agent_retried"
    SPAWN_REFUSED = "spawn_refused"
    TOOL_CALL_STARTED = "tool_call_started"
    TOOL_CALL_COMPLETED = "tool_call_completed"
    TOOL_CALL_FAILED = "tool_call_failed"
    BUDGET_EXCEEDED = "budget_exceeded"
    GROUP_STARTED = "group_started"
    GROUP_COMPLETED = "group_completed"
    GROUP_FAILED = "group_failed"
    WORKER_STARTED = "worker_started"
    WORKER_STOPPED = "worker_stopped"
    WORKER_HEARTBEAT = "worker_heartbeat"
    TASK_REJECTED = "task_rejected"
    TASK_RECLAIMED = "task_reclaimed"
    PROCESS_STARTED = "process_started"
    PROCESS_DONE = "process_done"
    PROCESS_FAILED = "process_failed"
    PROCESS_CANCELLED = "process_cancelled"
    PROCESS_EMITTED = "process_emitted"
    ENDPOINT_CALLED = "endpoint_called"
    ENDPOINT_RETURNED = "endpoint_returned"


class RuntimeEvent(BaseModel):
    """One thing that happened, with the ids that place it in a run tree.

    `trace_id` is the run the event belongs to; `parent_trace_id` is the run that spawned
    it (None for a top-level run), so a whole spawn tree can be rebuilt from events alone.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)

    event_type: EventType
    agent_name: str | None = None
    task_id: str | None = None
    trace_id: str | None = None
    parent_trace_id: str | None = None
    timestamp: float = Field(default_factory=time.time)
    payload: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default_factory=new_id)

    def to_json(self) -> str:
        """The event as a JSON string."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> RuntimeEvent:
        """Parse an event produced by `to_json`."""
        return cls.model_validate_json(data)


_RUN_EVENT_FIELDS = (
    "event_type",
    "agent_name",
    "task_id",
    "trace_id",
    "parent_trace_id",
    "payload",
)


def run_event(
    event_type: EventType,
    agent_name: str,
    task_id: str,
    trace_id: str,
    parent_trace_id: str | None,
    payload: dict[str, Any],
    timestamp: float | None = None,
) -> RuntimeEvent:
    """The event `RuntimeEvent(event_type=..., ..., payload=payload)` builds, unvalidated.

    For events about a run whose fields are typed already: the kernel's own, and an
    emitter's `emit_run` arguments built into the event later (see `EventEmitter`).
    Validating them costs a run more than the rest of its event (see `murmur.core.trusted`).
    `payload` is kept, not copied: pass a dict nobody changes afterwards. `timestamp` is when
    the event happened (default now), for an event built later from fields taken then.
    """
    return trusted_model(
        RuntimeEvent,
        {
            "event_type": event_type,
            "agent_name": agent_name,
            "task_id": task_id,
            "trace_id": trace_id,
            "parent_trace_id": parent_trace_id,
            "timestamp": time.time() if timestamp is None else timestamp,
            "payload": payload,
            "id": new_id(),
        },
        set(_RUN_EVENT_FIELDS),
    )

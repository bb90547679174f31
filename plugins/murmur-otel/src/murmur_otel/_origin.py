"""Where an event comes from: this process's own work, or a worker's, relayed.

A run sent to a fleet shows up twice: the caller's pipeline emits its lifecycle
(spawned / completed / failed / retried), and the worker that executes it emits the same run
with its tool calls and nested runs, which the caller's `JobBackend` relays to the caller's
emitter. Each is measured once, where it happens: the worker records the execution, the
caller records only its dispatch span. The run's own execution context tells them apart:
every event a run emits is emitted inside that run (`current_context()`), a relayed one is
emitted by the broker reader, outside it.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from murmur.events import EventType
from murmur.execution import current_context

if TYPE_CHECKING:
    from murmur.execution import ExecutionContext

__all__ = ["Origin", "origin_at"]

_RUN_EVENTS = frozenset(
    {
        EventType.AGENT_SPAWNED,
        EventType.AGENT_COMPLETED,
        EventType.AGENT_FAILED,
        EventType.AGENT_RETRIED,
        EventType.SPAWN_REFUSED,
        EventType.BUDGET_EXCEEDED,
    }
)
_TOOL_EVENTS = frozenset(
    {EventType.TOOL_CALL_STARTED, EventType.TOOL_CALL_COMPLETED, EventType.TOOL_CALL_FAILED}
)


class Origin(Enum):
    """How this process relates to the work an event describes."""

    LOCAL = "local"
    """Executed here."""
    DISPATCH = "dispatch"
    """A run this process sent to a fleet (the caller's side of it)."""
    RELAYED = "relayed"
    """A worker's event relayed to this caller; the worker records it."""


def origin_at(kind: EventType, trace_id: str | None) -> tuple[Origin, ExecutionContext | None]:
    """Where an event of type `kind` about the run `trace_id` comes from, read as it happens.

    With the execution context of its run when it is emitted inside that run; for a group's
    start, the context of the run that started it (None outside a run).
    """
    if kind not in _RUN_EVENTS and kind not in _TOOL_EVENTS:
        if kind is EventType.GROUP_STARTED:
            return Origin.LOCAL, current_context()  # the run a group is started from, if any
        return Origin.LOCAL, None  # group, worker and fleet events
    ctx = current_context()
    if ctx is None or ctx.trace_id != trace_id:
        return Origin.RELAYED, None
    if ctx.backend == "job":
        # A dispatched run's tool calls happen on the worker: here they can only be relays.
        return (Origin.DISPATCH if kind in _RUN_EVENTS else Origin.RELAYED), ctx
    return Origin.LOCAL, ctx

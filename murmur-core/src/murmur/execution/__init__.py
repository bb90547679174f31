"""The execution layer: what one run carries through the pipeline, and what it needs of the runtime.

`Backend` (the Execute stage's interface), `ExecutionContext` (typed per-run state),
`ExecutionOutcome` (what the Execute stage returns), `RuntimeProtocol` (the runtime as stages,
backends, passers and the group runner see it), `RuntimeOptions` and `SpawnCounter`. Plugin
authors writing a `Backend` or a middleware stage import from here.
"""

from __future__ import annotations

from murmur.execution._backend import Backend
from murmur.execution._context import (
    ExecutionContext,
    RuntimeProtocol,
    current_context,
    enter_run,
    leave_run,
    parent_messages,
    parent_tool_call_id,
)
from murmur.execution._options import RuntimeOptions
from murmur.execution._outcome import ExecutionOutcome
from murmur.execution._spawns import SpawnCounter

__all__ = [
    "Backend",
    "ExecutionContext",
    "ExecutionOutcome",
    "RuntimeOptions",
    "RuntimeProtocol",
    "SpawnCounter",
    "current_context",
    "enter_run",
    "leave_run",
    "parent_messages",
    "parent_tool_call_id",
]

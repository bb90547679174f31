"""The per-run execution context, and the context variable that links nested runs."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from murmur._budget import TokenBudget
    from murmur.agent import Agent
    from murmur.context import ParentContext
    from murmur.types import TaskSpec

__all__ = ["ExecutionContext", "current_context"]


@dataclass(slots=True)
class ExecutionContext:
    """Everything one run needs while it moves through the pipeline.

    `depth` is 0 for a top-level run; `ancestors` are the names of the agents on the chain
    above this run (for cycle detection); `budgets` are every budget this run is charged to
    (the runtime's, the task's, and those inherited from the parent run).

    `traceparent` is the W3C trace context this run's telemetry hangs under: on a worker,
    the one the caller's task envelope carried; a tracing emitter replaces it, for a run it
    sends to a fleet, with its own span's, which `JobBackend` then puts in the envelope.
    """

    agent: Agent
    task: TaskSpec
    trace_id: str
    parent_trace_id: str | None = None
    depth: int = 0
    ancestors: tuple[str, ...] = ()
    budgets: tuple[TokenBudget, ...] = ()
    parent: ParentContext | None = None
    attempt: int = 1
    tool_calls: int = 0
    backend: str = "async"
    input: Any = None
    message_history: list[Any] = field(default_factory=list)
    runtime: Any = None
    traceparent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def agent_name(self) -> str:
        """The name of the agent this run executes."""
        return self.agent.name

    @property
    def task_id(self) -> str:
        """The id of the task this run executes."""
        return self.task.id


_current: ContextVar[ExecutionContext | None] = ContextVar("murmur_current_run", default=None)


def current_context() -> ExecutionContext | None:
    """The run currently executing in this task (None outside any agent run).

    A tool that calls `runtime.run(...)` is inside its agent's run, so the nested run
    becomes a child of it: deeper, with the parent's trace id and budgets.
    """
    return _current.get()


current_run_var = _current

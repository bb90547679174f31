"""The per-run execution context, the context variable linking nested runs, and `RuntimeProtocol`.

`RuntimeProtocol` is what pipeline stages, backends, context passers, the group runner and durable
runs need of the runtime that executes them.

They are written against the protocol, never against `murmur.runtime`, so the kernel's
layers stay one-way: `AgentRuntime` (above them) implements it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from murmur.agent import Agent
from murmur.context_passer import ParentContext
from murmur.core.budget import TokenBudget
from murmur.core.errors import MurmurError, SpawnError
from murmur.core.ids import new_id
from murmur.execution._outcome import ExecutionOutcome
from murmur.execution._spawns import SpawnCounter
from murmur.types import AgentResult, ResultMetadata, TaskSpec

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from murmur.context_passer import ContextPasser
    from murmur.events._model import EventType, RuntimeEvent
    from murmur.execution._options import RuntimeOptions
    from murmur.runs._base import Stores
    from murmur.tooling._pool import ToolsetPool
    from murmur.tooling._registry import ToolRegistry

__all__ = [
    "ExecutionContext",
    "RuntimeProtocol",
    "current_context",
    "enter_run",
    "failed_result",
    "leave_run",
    "new_context",
    "parent_messages",
    "parent_tool_call_id",
    "result_metadata",
    "run_result",
]


@dataclass(slots=True)
class ExecutionContext:
    """Everything one run needs while it moves through the pipeline.

    `depth` is 0 for a top-level run; `ancestors` are the names of the agents on the chain
    above this run (for cycle detection); `budgets` are every budget this run is charged to
    (the runtime's, the task's, and those inherited from the parent run).

    `traceparent` is the W3C trace context this run's telemetry hangs under: on a worker,
    the one the caller's task envelope carried; a tracing emitter replaces it, for a run it
    sends to a fleet, with its own span's, which `JobBackend` then puts in the envelope.

    `max_depth` is the tightest `max_spawn_depth` of the runtimes above this run and
    `spawn_counters` the spawn allowances it is charged to besides its runtime's: both come
    from the caller's task envelope on a worker, so a caller's limits hold across a broker.

    The stages fill in `deadline` (wall-clock, the Timeout stage), `remaining_tokens` (what
    the budgets leave, the Cost stage) and `duration_ms` (the Observability stage). `extra`
    is for third-party stages.
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
    runtime: RuntimeProtocol | None = None
    traceparent: str | None = None
    max_depth: int | None = None
    spawn_counters: tuple[SpawnCounter, ...] = ()
    deadline: float | None = None
    remaining_tokens: int | None = None
    duration_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def agent_name(self) -> str:
        """The name of the agent this run executes."""
        return self.agent.name

    @property
    def task_id(self) -> str:
        """The id of the task this run executes."""
        return self.task.id


OutputT = TypeVar("OutputT")


class RuntimeProtocol(Protocol):
    """The runtime as the layers below it see it (implemented by `AgentRuntime`).

    Group types live above this layer, so a group is `Any` here: `run_group` takes an
    `AgentGroup` (or a group's name) and returns a `GroupResult`; `groups` and `get_group`
    hold `AgentGroup`s.
    """

    options: RuntimeOptions
    stores: Stores | None
    tools: ToolRegistry
    toolsets: ToolsetPool
    spawns: SpawnCounter

    @property
    def agents(self) -> Mapping[str, Agent[Any]]:
        """Registered agents by name."""

    @property
    def groups(self) -> Mapping[str, Any]:
        """Registered groups by name."""

    def get_agent(self, name: str) -> Agent[Any]:
        """A registered agent by name (raises `RegistryError` naming what is registered)."""

    def get_group(self, name: str) -> Any:
        """A registered group by name (raises `RegistryError` naming what is registered)."""

    def context_passer(self, name: str) -> ContextPasser:
        """A context passer by registered name."""

    @property
    def observed(self) -> bool:
        """Whether anything sees this runtime's events (an emitter, a plugin's event hook)."""

    async def emit(self, event: RuntimeEvent) -> None:
        """Deliver an event to the emitter and the plugins' event hooks."""

    def emit_for(
        self, ctx: ExecutionContext, event_type: EventType, payload: dict[str, Any]
    ) -> Awaitable[None]:
        """Emit an event about the run `ctx` (await the result)."""

    def context_for(self, agent: Agent[Any], task: TaskSpec) -> ExecutionContext:
        """The execution context of a run of `agent` on `task` (nested under the current run)."""

    async def execute_context(self, ctx: ExecutionContext) -> AgentResult[Any]:
        """Run a prepared context through the pipeline."""

    @overload
    async def run(
        self, agent: Agent[OutputT], task: TaskSpec | Any = None
    ) -> AgentResult[OutputT]: ...

    @overload
    async def run(self, agent: str, task: TaskSpec | Any = None) -> AgentResult[Any]: ...

    async def run(self, agent: Agent[Any] | str, task: TaskSpec | Any = None) -> AgentResult[Any]:
        """Run one agent on one task (never raises for a failed run)."""

    async def gather(
        self,
        agent: Agent[OutputT] | str,
        tasks: Iterable[TaskSpec | Any],
        *,
        max_concurrency: int | None = None,
        run_id: str | None = None,
    ) -> list[AgentResult[OutputT]]:
        """Run one agent over many tasks, bounded."""

    async def run_group(
        self,
        group: Any,
        task: TaskSpec | Any = None,
        *,
        checkpoint: Any = None,
        timeout_seconds: float | None = None,
    ) -> Any:
        """Run an agent group (an `AgentGroup` or a registered group's name)."""


_current: ContextVar[ExecutionContext | None] = ContextVar("murmur_current_run", default=None)


def current_context() -> ExecutionContext | None:
    """The run currently executing in this task (None outside any agent run).

    A tool that calls `runtime.run(...)` is inside its agent's run, so the nested run
    becomes a child of it: deeper, with the parent's trace id and budgets.
    """
    return _current.get()


def enter_run(ctx: ExecutionContext) -> Token[ExecutionContext | None]:
    """Make `ctx` the run executing in this task (pass the token to `leave_run`)."""
    return _current.set(ctx)


def leave_run(token: Token[ExecutionContext | None]) -> None:
    """Undo `enter_run`."""
    _current.reset(token)


def _pydantic_ai_run_context() -> Any:
    # Looked up, not imported: only a run inside PydanticAI has one, and then it is loaded.
    module = sys.modules.get("pydantic_ai._run_context")
    getter = getattr(module, "get_current_run_context", None) if module else None
    return getter() if getter else None


def parent_messages() -> list[Any]:
    """The messages of the PydanticAI run currently calling a tool, if any."""
    return list(getattr(_pydantic_ai_run_context(), "messages", None) or [])


def parent_tool_call_id() -> str | None:
    """The id of the PydanticAI tool call currently executing, if any."""
    return getattr(_pydantic_ai_run_context(), "tool_call_id", None)


def new_context(
    agent: Agent[Any],
    task: TaskSpec,
    *,
    runtime: RuntimeProtocol,
    backend: str,
    token_budget: TokenBudget | None = None,
) -> ExecutionContext:
    """The execution context of a run of `agent` on `task` on `runtime`.

    Nested under the run currently executing in this task, if any: one level deeper, its
    agent added to the ancestors, its budgets, depth limit and spawn allowances inherited.
    `token_budget` is the runtime-wide budget every run is charged to.
    """
    parent = current_context()
    budgets: tuple[TokenBudget, ...] = (token_budget,) if token_budget is not None else ()
    if parent is not None:
        budgets = tuple(dict.fromkeys((*budgets, *parent.budgets)))
    if task.token_budget is not None and task.token_budget not in budgets:
        budgets = (*budgets, task.token_budget)
    if parent is None:
        return ExecutionContext(
            agent=agent,
            task=task,
            trace_id=task.trace_id,
            parent_trace_id=task.parent_trace_id,
            budgets=budgets,
            backend=backend,
            runtime=runtime,
        )
    return ExecutionContext(
        agent=agent,
        task=task,
        trace_id=task.trace_id if task.trace_id != parent.trace_id else new_id(),
        parent_trace_id=task.parent_trace_id or parent.trace_id,
        depth=parent.depth + 1,
        ancestors=(*parent.ancestors, parent.agent.name),
        budgets=budgets,
        parent=ParentContext(
            agent_name=parent.agent.name,
            trace_id=parent.trace_id,
            task_id=parent.task.id,
            messages=tuple(parent_messages()),
            tool_call_id=parent_tool_call_id(),
        ),
        backend=backend,
        runtime=runtime,
        max_depth=parent.max_depth,
        spawn_counters=parent.spawn_counters,
    )


def result_metadata(
    ctx: ExecutionContext, started: float, outcome: ExecutionOutcome | None
) -> ResultMetadata:
    """The `ResultMetadata` of the run `ctx`, begun at `started` (`time.perf_counter()`)."""
    duration = ctx.duration_ms or (time.perf_counter() - started) * 1000
    return ResultMetadata(
        task_id=ctx.task.id,
        trace_id=ctx.trace_id,
        agent_name=ctx.agent.name,
        parent_trace_id=ctx.parent_trace_id,
        duration_ms=duration,
        input_tokens=outcome.input_tokens if outcome else 0,
        output_tokens=outcome.output_tokens if outcome else 0,
        requests=outcome.requests if outcome else 0,
        tool_calls=max(outcome.tool_calls if outcome else 0, ctx.tool_calls),
        cost_usd=outcome.cost_usd if outcome else None,
        model=(outcome.model if outcome else None) or ctx.agent.model_name,
        backend=ctx.backend,
        attempts=ctx.attempt,
        depth=ctx.depth,
    )


def run_result(
    ctx: ExecutionContext, started: float, outcome: ExecutionOutcome
) -> AgentResult[Any]:
    """The result of the run `ctx`, begun at `started`, that produced `outcome`."""
    return AgentResult(
        metadata=result_metadata(ctx, started, outcome),
        value=outcome.output,
        # The run's own list (`all_messages()` is a copy already): not copied again.
        messages=outcome.messages if outcome.messages is not None else [],
    )


def failed_result(ctx: ExecutionContext, started: float, exc: Exception) -> AgentResult[Any]:
    """The result of the run `ctx`, begun at `started`, that raised `exc`.

    A `MurmurError` is the result's error; anything else (a bug in a hook or a plugin) is
    still a typed result, a `SpawnError` naming it.
    """
    if not isinstance(exc, MurmurError):
        exc = SpawnError(
            f"agent {ctx.agent.name!r} failed unexpectedly: {exc!r}",
            details={"exception": type(exc).__name__},
        )
    return AgentResult.failed(exc, result_metadata(ctx, started, None))

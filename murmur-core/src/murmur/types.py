"""Frozen value types shared by every layer: trust levels, tasks, results, gather progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from murmur.core.budget import TokenBudget
from murmur.core.errors import MurmurError
from murmur.core.ids import new_id
from murmur.core.trusted import fill_trusted

__all__ = [
    "AgentResult",
    "GatherProgress",
    "ResultMetadata",
    "TaskSpec",
    "TrustLevel",
    "new_id",
]

OutputT = TypeVar("OutputT")


class TrustLevel(StrEnum):
    """How much tool access an agent gets.

    - `HIGH`: every registered tool.
    - `MEDIUM`: the agent's own allow-list (`Agent.tools`).
    - `LOW`: only tools registered as read-only (and on the allow-list).
    - `SANDBOX`: no tools at all.
    """

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    SANDBOX = "sandbox"


class TaskSpec(BaseModel):
    """One unit of work for an agent.

    Args:
        input: the task input: a string, a mapping, or a pydantic model. When the agent
            declares `input_type`, the input is validated against it before any model call.
        id: the task id; also the idempotency key on a broker.
        trace_id: the trace id of the run (32 hex digits, W3C compatible).
        parent_trace_id: set on nested runs; links the run tree.
        token_budget: an optional per-task budget, checked in addition to the runtime's.
        metadata: free-form, JSON-safe annotations carried into events and stores.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, defer_build=True)

    input: Any = None
    id: str = Field(default_factory=new_id)
    trace_id: str = Field(default_factory=new_id)
    parent_trace_id: str | None = None
    token_budget: TokenBudget | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    if not TYPE_CHECKING:  # type checkers keep pydantic's generated signature

        def __init__(self, **data: Any) -> None:
            if data.keys() <= _INPUT_ONLY and type(self) is TaskSpec:
                # `TaskSpec(input=x)`, the common case: nothing to validate (`input` is Any).
                values = {
                    "input": data.get("input"),
                    "id": new_id(),
                    "trace_id": new_id(),
                    "parent_trace_id": None,
                    "token_budget": None,
                    "metadata": {},
                }
                fill_trusted(self, values, set(data))
                return
            super().__init__(**data)


_INPUT_ONLY = frozenset({"input"})


@dataclass(frozen=True, slots=True)
class ResultMetadata:
    """What a run cost and where it ran."""

    task_id: str
    trace_id: str
    agent_name: str
    parent_trace_id: str | None = None
    duration_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    tool_calls: int = 0
    cost_usd: float | None = None
    model: str | None = None
    backend: str = "async"
    attempts: int = 1
    depth: int = 0

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form."""
        return {
            "task_id": self.task_id,
            "trace_id": self.trace_id,
            "agent_name": self.agent_name,
            "parent_trace_id": self.parent_trace_id,
            "duration_ms": self.duration_ms,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "requests": self.requests,
            "tool_calls": self.tool_calls,
            "cost_usd": self.cost_usd,
            "model": self.model,
            "backend": self.backend,
            "attempts": self.attempts,
            "depth": self.depth,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultMetadata:
        """Inverse of `to_dict`; unknown keys are ignored."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class _Unset:
    pass


_UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class AgentResult(Generic[OutputT]):
    """The typed outcome of one agent run: an output or a `MurmurError`, never both.

    ```python
    result = await runtime.run(researcher, TaskSpec(input="What is NATS?"))
    if result.is_ok():
        finding = result.output  # typed as the agent's output_type
    else:
        print(result.error)
    ```
    """

    metadata: ResultMetadata
    value: OutputT | None = None
    error: MurmurError | None = None
    messages: list[Any] = field(default_factory=list, repr=False, compare=False)

    def is_ok(self) -> bool:
        """True when the run produced a validated output."""
        return self.error is None

    @property
    def output(self) -> OutputT:
        """The validated output; raises the run's `MurmurError` when the run failed."""
        if self.error is not None:
            raise self.error
        return cast("OutputT", self.value)

    def unwrap(self) -> OutputT:
        """Alias of `output`, for readers who prefer the explicit form."""
        return self.output

    @property
    def output_or_none(self) -> OutputT | None:
        """The output, or None when the run failed."""
        return None if self.error is not None else self.value

    @property
    def task_id(self) -> str:
        """The task id of this run."""
        return self.metadata.task_id

    @property
    def trace_id(self) -> str:
        """The trace id of this run."""
        return self.metadata.trace_id

    @classmethod
    def ok(
        cls, value: OutputT, metadata: ResultMetadata, messages: list[Any] | None = None
    ) -> AgentResult[OutputT]:
        """A successful result."""
        return cls(metadata=metadata, value=value, messages=list(messages or []))

    @classmethod
    def failed(cls, error: MurmurError, metadata: ResultMetadata) -> AgentResult[OutputT]:
        """A failed result."""
        return cls(metadata=metadata, error=error)


@dataclass(frozen=True, slots=True)
class GatherProgress(Generic[OutputT]):
    """Where a gather stands, passed to its `on_progress` callback as each task finishes.

    ```python
    def show(p: GatherProgress[Finding]) -> None:
        print(f"{p.done}/{p.total} done, {p.failed} failed; task {p.index}: {p.result.is_ok()}")

    results = await runtime.gather(researcher, questions, on_progress=show)
    ```

    Args:
        done: tasks finished so far, this one included (failed and restored ones too).
        total: tasks in the gather.
        failed: finished tasks whose result is a failure.
        index: the position, in the gather's tasks, of the task that just finished.
        result: that task's result.
    """

    done: int
    total: int
    failed: int
    index: int
    result: AgentResult[OutputT]

    @property
    def succeeded(self) -> int:
        """Finished tasks with an output."""
        return self.done - self.failed

    @property
    def remaining(self) -> int:
        """Tasks not finished yet."""
        return self.total - self.done

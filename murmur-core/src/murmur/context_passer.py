"""The context-passer base: what a child run may know of its parent.

Also the two passers that need no model (`NullContextPasser`, `FullContextPasser`).

`murmur.context` re-exports these with the model-backed passers (summary, selective).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from murmur.types import TaskSpec

__all__ = [
    "ContextPasser",
    "FullContextPasser",
    "NullContextPasser",
    "ParentContext",
    "runnable_history",
]


@dataclass(frozen=True, slots=True)
class ParentContext:
    """What a child run can know about the run that spawned it.

    `messages` are the parent's conversation so far (PydanticAI `ModelMessage`s);
    `tool_call_id` is the parent's tool call that spawned the child, when it came from one.
    """

    agent_name: str
    trace_id: str
    task_id: str
    messages: Sequence[Any] = field(default_factory=tuple)
    tool_call_id: str | None = None


def runnable_history(messages: Sequence[Any]) -> list[Any]:
    """`messages` made valid as a child's history.

    A parent that spawns from a tool call is mid-turn: its last response holds the tool
    call being executed. PydanticAI refuses a history with unanswered tool calls, so they
    are closed out (and orphaned tool results dropped) with `repair_messages`.
    """
    from pydantic_ai.messages import repair_messages

    return repair_messages(list(messages))


@runtime_checkable
class ContextPasser(Protocol):
    """Decides which prior messages a child run starts with."""

    name: str

    async def prepare(self, parent: ParentContext | None, task: TaskSpec) -> list[Any]:
        """Return the message history (PydanticAI `ModelMessage`s) the child run starts with."""
        ...


class NullContextPasser:
    """The child starts fresh: no parent messages. Cheapest, and the default."""

    name = "null"

    async def prepare(self, parent: ParentContext | None, task: TaskSpec) -> list[Any]:
        """No context."""
        return []

    def __repr__(self) -> str:
        return "NullContextPasser()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class FullContextPasser:
    """The child sees the parent's whole conversation so far. Most context, most tokens."""

    name = "full"

    async def prepare(self, parent: ParentContext | None, task: TaskSpec) -> list[Any]:
        """The parent's messages, or nothing for a top-level run."""
        if parent is None or not parent.messages:
            return []
        return runnable_history(parent.messages)

    def __repr__(self) -> str:
        return "FullContextPasser()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

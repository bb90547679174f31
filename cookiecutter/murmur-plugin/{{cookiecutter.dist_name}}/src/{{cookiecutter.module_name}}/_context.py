"""`context_passer="{{ cookiecutter.entry_name }}"`: a spawned agent sees the last few messages of its parent.

A context passer decides which of the parent's messages (PydanticAI `ModelMessage`s) a child
run starts with. This one keeps the most recent `keep` messages: more context than `"null"`,
far fewer tokens than `"full"` for a long parent conversation.
"""

from __future__ import annotations

from typing import Any

from murmur.context import ParentContext, runnable_history
from murmur.types import TaskSpec

__all__ = ["RecentContextPasser"]


class RecentContextPasser:
    """The child starts with the parent's last `keep` messages.

    Args:
        keep: How many of the parent's most recent messages to pass (at least 1).
    """

    name = "{{ cookiecutter.entry_name }}"

    def __init__(self, keep: int = 4) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1, got {keep}")
        self.keep = keep

    async def prepare(self, parent: ParentContext | None, task: TaskSpec) -> list[Any]:
        """The parent's recent messages, made valid as a history (never the parent's list)."""
        if parent is None or not parent.messages:
            return []
        recent = list(parent.messages)[-self.keep :]
        # A history must start with a request: drop a leading response.
        while recent and getattr(recent[0], "kind", "request") != "request":
            recent.pop(0)
        return runnable_history(recent)

    def __repr__(self) -> str:
        return f"RecentContextPasser(keep={self.keep})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RecentContextPasser) and other.keep == self.keep

    def __hash__(self) -> int:
        return hash((type(self), self.keep))

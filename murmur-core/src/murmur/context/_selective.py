"""`SelectiveContextPasser`: the child sees only the parent messages a selector keeps."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from murmur.context_passer import ParentContext, runnable_history
from murmur.core.errors import ContextError, MurmurError
from murmur.types import TaskSpec

__all__ = ["DEFAULT_KEPT_PARTS", "SelectiveContextPasser", "Selector"]

Selector = Callable[[list[Any], "TaskSpec"], Sequence[Any] | Awaitable[Sequence[Any]]]
"""`(parent messages, child task) -> the messages the child starts with` (may be async)."""

DEFAULT_KEPT_PARTS = frozenset({"user-prompt", "text"})
"""By default the child sees what was asked and answered, not tool traffic or prompts."""


class SelectiveContextPasser:
    """The child starts with a filtered view of the parent's conversation.

    Without a `selector`, the passer keeps the message parts whose kind is in `keep`
    (default: user prompts and the assistant's text, which drops tool calls, tool results
    and the parent's system prompt: usually the bulk of the tokens), drops messages left
    empty, then keeps the `last` messages. A `selector` replaces that filter with your own
    choice of messages.

    ```python
    SelectiveContextPasser(last=4)                                  # recent Q&A only
    SelectiveContextPasser(keep={"user-prompt"})                    # just the questions
    SelectiveContextPasser(selector=lambda messages, task: messages[-2:])
    ```

    Args:
        selector: picks the messages (sync or async); overrides `keep` and `last`.
        keep: the PydanticAI `part_kind`s to keep ("user-prompt", "text", "tool-call",
            "tool-return", "system-prompt", ...).
        last: keep only this many of the remaining messages (None: all).
    """

    name = "selective"

    def __init__(
        self,
        selector: Selector | None = None,
        *,
        keep: Iterable[str] = DEFAULT_KEPT_PARTS,
        last: int | None = None,
    ) -> None:
        if selector is not None and not callable(selector):
            raise ContextError(
                f"SelectiveContextPasser selector must be callable, got {selector!r}"
            )
        if last is not None and last < 0:
            raise ContextError(f"SelectiveContextPasser(last=...) must be >= 0, got {last}")
        self.selector = selector
        self.keep = frozenset(keep)
        self.last = last

    async def prepare(self, parent: ParentContext | None, task: TaskSpec) -> list[Any]:
        """The kept messages (nothing for a top-level run), made valid as a history."""
        if parent is None or not parent.messages:
            return []
        return runnable_history(await self._select(parent, task))

    async def _select(self, parent: ParentContext, task: TaskSpec) -> list[Any]:
        if self.selector is None:
            return self._filter(parent.messages)
        try:
            chosen = self.selector(list(parent.messages), task)
            if inspect.isawaitable(chosen):
                chosen = await chosen
        except MurmurError:
            raise
        except Exception as exc:
            raise ContextError(
                f"selective context passer: the selector "
                f"{getattr(self.selector, '__name__', self.selector)!r} raised {exc!r}",
                code="selector_failed",
            ) from exc
        messages = list(chosen or [])
        bad = [m for m in messages if getattr(m, "kind", None) not in ("request", "response")]
        if bad:
            raise ContextError(
                "selective context passer: the selector must return PydanticAI messages "
                f"(ModelRequest / ModelResponse), got {type(bad[0]).__name__}",
                code="selector_failed",
            )
        return messages

    def _filter(self, messages: Sequence[Any]) -> list[Any]:
        kept: list[Any] = []
        for message in messages:
            parts = [p for p in message.parts if getattr(p, "part_kind", None) in self.keep]
            if not parts:
                continue
            kept.append(
                message
                if len(parts) == len(message.parts)
                else dataclasses.replace(message, parts=parts)
            )
        if self.last is not None:
            kept = kept[-self.last :] if self.last else []
        return kept

    def _config(self) -> tuple[Any, ...]:
        return (self.selector, self.keep, self.last)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._config() == other._config()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.keep, self.last))

    def __repr__(self) -> str:
        if self.selector is not None:
            return f"SelectiveContextPasser(selector={self.selector!r})"
        return f"SelectiveContextPasser(keep={sorted(self.keep)!r}, last={self.last!r})"

"""Gather progress: counting finished tasks, calling `on_progress`, and a terminal's observer.

`ProgressTracker` is what `gather` and `as_completed` feed each finished task to. It calls
the user's `on_progress` callback, and tells the `GatherObserver` installed with
`observe_gathers` (what `murmur run` uses to draw a progress bar) about top-level gathers:
a gather started inside a run (a tool or a node gathering) is part of that run, not a bar
of its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeAlias

from murmur.execution._context import current_context
from murmur.types import AgentResult, GatherProgress

__all__ = [
    "GatherObserver",
    "ProgressCallback",
    "ProgressTracker",
    "gathers_observed",
    "observe_gathers",
]

ProgressCallback: TypeAlias = Callable[[GatherProgress[Any]], Awaitable[None] | None]
"""`on_progress`: called with a `GatherProgress` as each task finishes; sync or async."""


class GatherObserver(Protocol):
    """Watches every top-level gather of a program (the `murmur run` progress bar)."""

    def started(self, key: object, agent_name: str, total: int) -> None:
        """A gather of `total` tasks of `agent_name` started; `key` names it until `finished`."""

    def progressed(self, key: object, progress: GatherProgress[Any]) -> None:
        """A task of the gather `key` finished."""

    def finished(self, key: object) -> None:
        """The gather `key` ended: every task finished, or its consumer stopped early."""


_observer: ContextVar[GatherObserver | None] = ContextVar("murmur_gather_observer", default=None)


@contextmanager
def observe_gathers(observer: GatherObserver) -> Generator[GatherObserver]:
    """Report every top-level gather started in this context (and tasks it creates)."""
    token = _observer.set(observer)
    try:
        yield observer
    finally:
        _observer.reset(token)


def gathers_observed() -> bool:
    """Whether an observer (`observe_gathers`) watches the gathers started here."""
    return _observer.get() is not None


class ProgressTracker:
    """Counts one gather's finished tasks and reports each to its callback and observer.

    Args:
        agent_name: the gathered agent's name (the observer's label).
        total: tasks in the gather.
        callback: the user's `on_progress`, if any.
    """

    def __init__(self, agent_name: str, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self._callback = callback
        # An empty gather has nothing to show; one inside a run is part of that run.
        shown = total > 0 and current_context() is None
        self._observer = _observer.get() if shown else None
        if self._observer is not None:
            self._observer.started(self, agent_name, total)

    async def advance(self, index: int, result: AgentResult[Any]) -> GatherProgress[Any]:
        """Count a finished task, report it, and return the progress it makes."""
        self.done += 1
        if not result.is_ok():
            self.failed += 1
        progress = GatherProgress(self.done, self.total, self.failed, index, result)
        if self._observer is not None:
            self._observer.progressed(self, progress)
        if self._callback is not None:
            outcome = self._callback(progress)
            if inspect.isawaitable(outcome):
                await outcome
        return progress

    def close(self) -> None:
        """The gather ended (finished or stopped early): tell the observer, once."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.finished(self)

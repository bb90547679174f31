"""The backend interface: where the Execute stage of the pipeline runs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome

__all__ = ["Backend"]


class Backend(ABC):
    """Executes one attempt of a run.

    Everything around it (budgets, retries, timeouts, events, spawn control) is the runtime's
    pipeline and is the same for every backend.

    Subclasses implement `execute`; `start` / `aclose` default to no-ops.
    """

    name: str = "backend"

    async def start(self, runtime: Any) -> None:  # noqa: B027 - optional hook
        """Connect (called once, lazily, before the first run)."""

    @abstractmethod
    def execute(
        self, ctx: ExecutionContext, *, remaining_tokens: int | None
    ) -> Awaitable[ExecutionOutcome]:
        """Execute one attempt and return its validated output and usage.

        Write it as `async def execute(...)`.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

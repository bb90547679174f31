"""`AsyncBackend`: runs agents in this process on asyncio. The zero-config default."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from murmur.execution._backend import Backend

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from murmur.backends._pydantic_ai import PydanticAIExecutor
    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome

__all__ = ["AsyncBackend"]


class AsyncBackend(Backend):
    """Executes each run in-process through PydanticAI."""

    name = "async"

    def __init__(self) -> None:
        self._executor: PydanticAIExecutor | None = None
        self._runtime: Any = None

    async def start(self, runtime: Any) -> None:
        """Bind the runtime whose tool registry the agents use."""
        self._runtime = runtime

    def executor(self, runtime: Any) -> PydanticAIExecutor:
        """The PydanticAI executor (imports PydanticAI on first use)."""
        if self._executor is None:
            from murmur.backends._pydantic_ai import PydanticAIExecutor

            self._executor = PydanticAIExecutor(runtime.tools, runtime.toolsets)
        return self._executor

    def execute(
        self, ctx: ExecutionContext, *, remaining_tokens: int | None
    ) -> Awaitable[ExecutionOutcome]:
        """Run one attempt in this process (the executor's own coroutine: no frame of this)."""
        return self.executor(ctx.runtime).execute(ctx, remaining_tokens=remaining_tokens)

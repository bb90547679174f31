"""The frame a run started on a runtime executes in: its stages, its execution, its result.

Each suspension of a run passes through every coroutine frame between the caller and the
model (a no-work PydanticAI run is resumed 13 times), and in pairs of no-work runs each such
frame costs about 0.2% of the run. So `RunFrame.result` is one frame doing the work of the
caller's first three stages itself, through each stage's own methods: spawn control
(`refusal`), observability (`spawned`, `completed`, `failed`) and prepare (`prepare`). When
no stage inside those has work for the run (no user middleware, retry or timeout; no budget)
and it executes in this process without `post_process`, the frame awaits the PydanticAI run
itself: `runtime.run` -> this frame -> PydanticAI.

Everything else goes through the stages composed as middleware: the inner ones when a stage
inside has work, all of them when a run store records the run. The order and what each
stage does are the same either way (`docs/architecture.md`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from murmur.core.errors import MurmurError
from murmur.execution._context import (
    enter_run,
    failed_result,
    leave_run,
    run_result,
)
from murmur.middleware._base import Next, compose
from murmur.middleware.depth_limit import refuse
from murmur.middleware.observability import completed, failed, spawned
from murmur.middleware.prepare import load_context, needs_validation

if TYPE_CHECKING:
    from murmur.backends._async import AsyncBackend
    from murmur.execution._context import ExecutionContext
    from murmur.execution._outcome import ExecutionOutcome
    from murmur.middleware._stages import CallerStages
    from murmur.types import AgentResult

__all__ = ["RunFrame", "result_of"]


class RunFrame:
    """Runs an execution context through the caller's stages and builds its result.

    Args:
        stages: the caller's stages.
        execute: the innermost step (the runtime's backend, then output validation).
        local: the runtime's in-process backend when it is the runtime's backend, else None.
    """

    def __init__(self, stages: CallerStages, execute: Next, local: AsyncBackend | None) -> None:
        self._spawn_control = stages.spawn_control
        self._prepare = stages.prepare
        self._pipeline = compose(stages.all, execute)
        self._inner = compose(stages.inner, execute)
        # The cost stage passes a run without budgets straight to `execute`, which passes a
        # local run without `post_process` straight to the backend's executor.
        self._local = local if stages.only_cost else None

    async def result(self, ctx: ExecutionContext) -> AgentResult[Any]:
        """Run `ctx` and return its result; a failed run is a failed result, never a raise."""
        runtime = ctx.runtime
        if runtime is None:  # a context built by hand: the stages composed, as they allow
            return await result_of(ctx, self._pipeline)
        started = time.perf_counter()
        token = enter_run(ctx)
        try:
            if runtime.stores is not None:  # records written around the run: every stage
                outcome = await self._pipeline(ctx)
            else:
                refusal = self._spawn_control.refusal(ctx)
                if refusal is not None:
                    await refuse(ctx, refusal)
                observed = runtime.observed
                if observed:
                    await spawned(runtime, ctx)
                try:
                    passer = self._prepare.prepare(ctx)
                    if passer is not None:
                        await load_context(passer, ctx)
                    local = self._local
                    if local is None or ctx.budgets or needs_validation(ctx.agent, True):
                        outcome = await self._inner(ctx)
                    else:  # the executor's own steps (`PydanticAIExecutor.execute`), here
                        executor = local.executor(runtime)
                        run, spent = executor.start(ctx, remaining_tokens=ctx.remaining_tokens)
                        try:
                            ran = await run
                        except Exception as exc:
                            raise executor.failure(ctx, exc, spent) from exc
                        outcome = executor.outcome(ctx, ran)
                except MurmurError as exc:
                    if observed:
                        await failed(runtime, ctx, exc, started)
                    raise
                if observed:
                    await completed(runtime, ctx, outcome, started)
        except Exception as exc:  # a MurmurError, or a bug in a hook or plugin: a result
            return failed_result(ctx, started, exc)
        finally:
            leave_run(token)
        return run_result(ctx, started, outcome)


async def result_of(ctx: ExecutionContext, pipeline: Next) -> AgentResult[Any]:
    """Run `ctx` through `pipeline` and return its result (never raises for a failed run)."""
    started = time.perf_counter()
    token = enter_run(ctx)
    try:
        outcome: ExecutionOutcome = await pipeline(ctx)
    except Exception as exc:  # a MurmurError, or a bug in a hook or plugin: a result
        return failed_result(ctx, started, exc)
    finally:
        leave_run(token)
    return run_result(ctx, started, outcome)

"""The Observability stage: lifecycle events and the run's record in the run store.

The events are `AGENT_SPAWNED` / `AGENT_COMPLETED` / `AGENT_FAILED`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from murmur.core.errors import MurmurError
from murmur.core.json import dump_value
from murmur.events._model import EventType
from murmur.execution._context import ExecutionContext, RuntimeProtocol
from murmur.execution._outcome import ExecutionOutcome
from murmur.middleware._base import Next
from murmur.runs._base import RunRecord, RunStatus

__all__ = ["ObservabilityMiddleware", "completed", "failed", "spawned"]


class ObservabilityMiddleware:
    """Emits AGENT_SPAWNED / AGENT_COMPLETED / AGENT_FAILED and records the run.

    Args:
        record: write the run's record to the runtime's run store (a worker executing a
            delivered task does not: the caller records the run).
    """

    def __init__(self, *, record: bool = True) -> None:
        self.record = record

    def __call__(self, ctx: ExecutionContext, call_next: Next) -> Awaitable[ExecutionOutcome]:
        """Frame the run with events and run-store records.

        When nothing would see them (no emitter, no event hook, no store to write), the run
        continues without a frame of this stage.
        """
        runtime = ctx.runtime
        if runtime is None or (
            not runtime.observed and (not self.record or runtime.stores is None)
        ):
            return call_next(ctx)
        return self._observed(ctx, call_next)

    async def _observed(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        runtime = ctx.runtime
        assert runtime is not None  # checked by __call__
        started = time.perf_counter()
        stores = runtime.stores if self.record else None
        store = stores.runs if stores is not None else None
        record: RunRecord | None = None
        if store is not None:
            record = RunRecord(
                run_id=ctx.trace_id,
                agent_name=ctx.agent.name,
                task_id=ctx.task.id,
                trace_id=ctx.trace_id,
                parent_trace_id=ctx.parent_trace_id,
                status=RunStatus.RUNNING,
                input=dump_value(ctx.task.input),
                metadata=dict(ctx.task.metadata),
            )
            await store.put_soon(record)  # the final record below is written through
        await spawned(runtime, ctx)
        try:
            outcome = await call_next(ctx)
        except MurmurError as exc:
            await failed(runtime, ctx, exc, started)
            if store is not None and record is not None:
                record.status = RunStatus.FAILED
                record.error = exc.to_dict()
                record.updated_at = time.time()
                await store.put(record)
            raise
        await completed(runtime, ctx, outcome, started)
        duration = ctx.duration_ms
        if store is not None and record is not None:
            record.status = RunStatus.COMPLETED
            record.output = dump_value(outcome.output)
            record.metadata.update(
                input_tokens=outcome.input_tokens,
                output_tokens=outcome.output_tokens,
                cost_usd=outcome.cost_usd,
                duration_ms=duration,
                model=outcome.model,
            )
            record.updated_at = time.time()
            await store.put(record)
        return outcome


def spawned(runtime: RuntimeProtocol, ctx: ExecutionContext) -> Awaitable[None]:
    """Emit the run's `AGENT_SPAWNED` (await the result)."""
    return runtime.emit_for(
        ctx,
        EventType.AGENT_SPAWNED,
        {"model": ctx.agent.model_name, "depth": ctx.depth, "backend": ctx.backend},
    )


def completed(
    runtime: RuntimeProtocol, ctx: ExecutionContext, outcome: ExecutionOutcome, started: float
) -> Awaitable[None]:
    """Set the run's `duration_ms` (it began at `started`) and emit its `AGENT_COMPLETED`."""
    duration = ctx.duration_ms = (time.perf_counter() - started) * 1000
    return runtime.emit_for(
        ctx,
        EventType.AGENT_COMPLETED,
        {
            "duration_ms": round(duration, 3),
            "model": outcome.model,
            "input_tokens": outcome.input_tokens,
            "output_tokens": outcome.output_tokens,
            "requests": outcome.requests,
            "tool_calls": max(outcome.tool_calls, ctx.tool_calls),
            "cost_usd": outcome.cost_usd,
            "attempts": ctx.attempt,
        },
    )


def failed(
    runtime: RuntimeProtocol, ctx: ExecutionContext, exc: MurmurError, started: float
) -> Awaitable[None]:
    """Emit the `AGENT_FAILED` of the run begun at `started` that raised `exc`."""
    duration = (time.perf_counter() - started) * 1000
    return runtime.emit_for(
        ctx,
        EventType.AGENT_FAILED,
        {
            "error_type": type(exc).__name__,
            "error": exc.message,
            "code": exc.code,
            "duration_ms": round(duration, 3),
            "attempts": ctx.attempt,
        },
    )

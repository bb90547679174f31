"""The stages every run passes, whatever the backend:

boundary -> spawn control -> observability -> prepare (input, pre_process, context)
-> retry -> cost -> timeout -> execute (backend, output validation, post_process)
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from murmur.context import ContextPasser, ParentContext
from murmur.core.errors import ContextError, MurmurError, SpawnError
from murmur.events import EventType
from murmur.runs import RunRecord, RunStatus

if TYPE_CHECKING:
    from murmur.backends._pydantic_ai import ExecutionOutcome
    from murmur.core.context import ExecutionContext
    from murmur.middleware._base import Next

__all__ = [
    "ObservabilityMiddleware",
    "PrepareMiddleware",
    "dump_value",
    "parent_messages",
    "parent_tool_call_id",
]


def dump_value(value: Any) -> Any:
    """A JSON-safe form of an input or output."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [dump_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): dump_value(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _pydantic_ai_run_context() -> Any:
    module = sys.modules.get("pydantic_ai._run_context")
    getter = getattr(module, "get_current_run_context", None) if module else None
    return getter() if getter else None


def parent_messages() -> list[Any]:
    """The messages of the PydanticAI run currently calling a tool, if any."""
    return list(getattr(_pydantic_ai_run_context(), "messages", None) or [])


def parent_tool_call_id() -> str | None:
    """The id of the PydanticAI tool call currently executing, if any."""
    return getattr(_pydantic_ai_run_context(), "tool_call_id", None)


class ObservabilityMiddleware:
    """Emits AGENT_SPAWNED / AGENT_COMPLETED / AGENT_FAILED and records the run."""

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Frame the run with events and run-store records."""
        runtime = ctx.runtime
        started = time.perf_counter()
        store = runtime.stores.runs if runtime.stores is not None else None
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
        await runtime.emit_for(
            ctx,
            EventType.AGENT_SPAWNED,
            {"model": ctx.agent.model_name, "depth": ctx.depth, "backend": ctx.backend},
        )
        try:
            outcome = await call_next(ctx)
        except MurmurError as exc:
            duration = (time.perf_counter() - started) * 1000
            await runtime.emit_for(
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
            if store is not None and record is not None:
                record.status = RunStatus.FAILED
                record.error = exc.to_dict()
                record.updated_at = time.time()
                await store.put(record)
            raise
        duration = (time.perf_counter() - started) * 1000
        ctx.extra["duration_ms"] = duration
        await runtime.emit_for(
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


class PrepareMiddleware:
    """Validates the input, applies `pre_process`, and prepares context, once per run."""

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Prepare, then continue."""
        agent = ctx.agent
        value = ctx.task.input
        if agent.input_type is not None and not isinstance(value, agent.input_type):
            try:
                if isinstance(value, str | bytes):
                    value = agent.input_type.model_validate_json(value)
                else:
                    value = agent.input_type.model_validate(
                        value.model_dump() if isinstance(value, BaseModel) else value
                    )
            except ValidationError as exc:
                raise SpawnError(
                    f"input for agent {agent.name!r} does not match its input_type "
                    f"{agent.input_type.__name__}: {_errors(exc)}",
                    code="input_invalid",
                    details={"errors": exc.errors(include_url=False, include_context=False)},
                ) from None
        for hook in agent.pre_process:
            value = _call_hook(hook, value, agent.name, "pre_process")
        ctx.input = value
        passer = agent.context_passer
        if isinstance(passer, str):
            passer = ctx.runtime.context_passer(passer)
        ctx.message_history = await _prepare_context(passer, ctx)
        return await call_next(ctx)


async def _prepare_context(passer: ContextPasser, ctx: ExecutionContext) -> list[Any]:
    parent: ParentContext | None = ctx.parent
    try:
        return list(await passer.prepare(parent, ctx.task))
    except MurmurError:
        raise
    except Exception as exc:
        raise ContextError(
            f"context passer {getattr(passer, 'name', type(passer).__name__)!r} failed for "
            f"agent {ctx.agent.name!r}: {exc!r}"
        ) from exc


def _call_hook(hook: Any, value: Any, agent_name: str, kind: str) -> Any:
    try:
        return hook(value)
    except MurmurError:
        raise
    except Exception as exc:
        raise SpawnError(
            f"{kind} hook {getattr(hook, '__name__', hook)!r} of agent {agent_name!r} "
            f"raised {exc!r}",
            code=f"{kind}_failed",
        ) from exc


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}"
        for e in exc.errors(include_url=False)
    )


def validate_output(ctx: ExecutionContext, output: Any) -> Any:
    """Coerce a backend's output into the agent's output_type, then apply post_process."""
    agent = ctx.agent
    output_type = agent.output_type
    if (
        isinstance(output_type, type)
        and issubclass(output_type, BaseModel)
        and not isinstance(output, output_type)
    ):
        try:
            if isinstance(output, str | bytes):
                output = output_type.model_validate_json(output)
            else:
                output = output_type.model_validate(output)
        except ValidationError as exc:
            raise SpawnError(
                f"output of agent {agent.name!r} does not match {output_type.__name__}: "
                f"{_errors(exc)}",
                code="output_invalid",
            ) from None
    for hook in agent.post_process:
        output = _call_hook(hook, output, agent.name, "post_process")
    return output

"""The Prepare stage and the output validation the Execute stage ends with.

Prepare is input validation, `pre_process` and the context passer; output validation is
`output_type` and `post_process`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from pydantic import BaseModel, ValidationError

from murmur.context_passer import ContextPasser, NullContextPasser, ParentContext
from murmur.core.errors import ContextError, MurmurError, SpawnError
from murmur.execution._context import ExecutionContext
from murmur.execution._outcome import ExecutionOutcome
from murmur.middleware._base import Next

__all__ = ["PrepareMiddleware", "load_context", "needs_validation", "validate_output"]


class PrepareMiddleware:
    """Validates the input, applies `pre_process`, and prepares context, once per run."""

    def __call__(self, ctx: ExecutionContext, call_next: Next) -> Awaitable[ExecutionOutcome]:
        """Prepare, then continue (without a frame of its own for an agent with no context)."""
        passer = self.prepare(ctx)
        if passer is None:
            return call_next(ctx)
        return _with_context(passer, ctx, call_next)

    def prepare(self, ctx: ExecutionContext) -> ContextPasser | None:
        """Validate and pre-process the input into `ctx.input`.

        Returns the context passer still to fill `ctx.message_history` (`load_context`), or
        None when the run starts fresh (the default `NullContextPasser`).
        """
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
            if ctx.runtime is None:
                raise ContextError(
                    f"agent {agent.name!r} names context passer {passer!r}, which needs a "
                    "runtime to resolve it; run the agent through AgentRuntime"
                )
            passer = ctx.runtime.context_passer(passer)
        if type(passer) is NullContextPasser:  # the default: the child starts fresh
            ctx.message_history = []
            return None
        return passer


async def _with_context(
    passer: ContextPasser, ctx: ExecutionContext, call_next: Next
) -> ExecutionOutcome:
    await load_context(passer, ctx)
    return await call_next(ctx)


async def load_context(passer: ContextPasser, ctx: ExecutionContext) -> None:
    """Fill `ctx.message_history` from `passer` (a failure is a `ContextError`)."""
    parent: ParentContext | None = ctx.parent
    try:
        ctx.message_history = list(await passer.prepare(parent, ctx.task))
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


def needs_validation(agent: Any, local: bool) -> bool:
    """Whether `validate_output` can change a run's output.

    It can when the agent has `post_process` hooks, or a pydantic `output_type` and the output
    came from a broker (as JSON data); PydanticAI in this process (`local`) returns an
    instance of the output type already.
    """
    if agent.post_process:
        return True
    output_type = agent.output_type
    return not local and isinstance(output_type, type) and issubclass(output_type, BaseModel)


def validate_output(ctx: ExecutionContext, output: Any, *, post_process: bool = True) -> Any:
    """Coerce a backend's output into the agent's output_type, then apply `post_process`.

    `post_process` is skipped when `post_process=False`: a worker leaves it to the caller, where it
    runs once.
    """
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
    if post_process:
        for hook in agent.post_process:
            output = _call_hook(hook, output, agent.name, "post_process")
    return output

"""`OTelContextMiddleware`: the run's span is the current span while the run executes.

The emitters build spans from events, after the fact; nothing they create is "current". Code
that starts spans of its own while a run executes (PydanticAI's instrumentation, the user's
tools) hangs them under whatever span is current. This middleware makes that the run's
`invoke_agent` span, for the duration of each attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import context, trace

from murmur_otel._batch import BATCH
from murmur_otel._origin import Origin
from murmur_otel._pydantic_ai import in_murmur_run
from murmur_otel._spans import SPANS

if TYPE_CHECKING:
    from murmur.execution import ExecutionContext, ExecutionOutcome
    from murmur.middleware import Next

__all__ = ["OTelContextMiddleware"]


class OTelContextMiddleware:
    """Makes each run's `invoke_agent` span current while the run executes.

    With it, PydanticAI's own spans nest under murmur's. Turn PydanticAI's instrumentation on
    with `instrument_pydantic_ai()`, whose tracer provider leaves the agent-run and tool spans
    of a murmur run to murmur (no duplicates). Needs a trace emitter on the runtime. Each
    run's span is started as the run starts (not in a later batch), since it must exist.

    Example:
        ```python
        runtime = AgentRuntime(event_emitter="otel", middleware=[OTelContextMiddleware()])
        instrument_pydantic_ai()
        ```
    """

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Run the rest of the pipeline with the run's span current."""
        key = (ctx.trace_id, Origin.LOCAL.value)
        span = SPANS.runs.get(key)
        if span is None:
            # The run's start may still wait in the batch: hand it over to get its span.
            BATCH.flush()
            span = SPANS.runs.get(key)
        if span is None:
            return await call_next(ctx)
        token = context.attach(trace.set_span_in_context(span))
        try:
            with in_murmur_run():
                return await call_next(ctx)
        finally:
            context.detach(token)

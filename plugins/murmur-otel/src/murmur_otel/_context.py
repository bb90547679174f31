"""`OTelContextMiddleware`: the run's span is the current span while the run executes.

The emitters build spans from events, after the fact; nothing they create is "current". Code
that starts spans of its own while a run executes (PydanticAI's instrumentation, the user's
tools) hangs them under whatever span is current. This middleware makes that the run's
`invoke_agent` span, for the duration of each attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import context, trace

from murmur_otel._origin import Origin
from murmur_otel._spans import SPANS

if TYPE_CHECKING:
    from murmur.execution import ExecutionContext, ExecutionOutcome
    from murmur.middleware import Next

__all__ = ["OTelContextMiddleware"]


class OTelContextMiddleware:
    """Makes each run's `invoke_agent` span current while the run executes.

    With it, PydanticAI's own spans nest under murmur's: give the agent an instrumented model
    (`InstrumentedModel(model)`, which records `chat {model}` spans and token usage per
    request) rather than turning on PydanticAI's agent-level instrumentation, which would
    add a second agent-run span. Needs a trace emitter on the runtime.

    Example:
        ```python
        runtime = AgentRuntime(event_emitter="otel", middleware=[OTelContextMiddleware()])
        agent = Agent(name="researcher", model=InstrumentedModel(infer_model("openai:gpt-5.2")))
        ```
    """

    async def __call__(self, ctx: ExecutionContext, call_next: Next) -> ExecutionOutcome:
        """Run the rest of the pipeline with the run's span current."""
        span = SPANS.runs.get((ctx.trace_id, Origin.LOCAL.value))
        if span is None:
            return await call_next(ctx)
        token = context.attach(trace.set_span_in_context(span))
        try:
            return await call_next(ctx)
        finally:
            context.detach(token)

"""PydanticAI's own instrumentation inside murmur runs, without a second agent-run span.

PydanticAI's instrumentation records an `invoke_agent {agent}` span per agent run and an
`execute_tool {tool}` span per tool call. Inside a murmur run, murmur's trace emitter records
those very spans already (with murmur's ids, trust decisions, attempts and cost), so they
would appear twice. `instrument_pydantic_ai` turns PydanticAI's instrumentation on through a
tracer provider that, while a murmur run's span is current (`OTelContextMiddleware`), does not
record those two kinds: PydanticAI's `chat {model}` spans, token usage and everything else
then hang directly under murmur's spans. Outside murmur runs, PydanticAI records as usual.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Tracer, TracerProvider

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.util.types import Attributes
    from pydantic_ai.models.instrumented import InstrumentationSettings

__all__ = ["MurmurRunSpans", "in_murmur_run", "instrument_pydantic_ai"]

_IN_RUN: ContextVar[bool] = ContextVar("murmur_otel_in_run", default=False)

_OWNED_OPERATIONS = frozenset({"invoke_agent", "execute_tool"})
"""`gen_ai.operation.name`s murmur records itself for a run it executes."""


@contextmanager
def in_murmur_run() -> Generator[None]:
    """Mark the code inside as running within a murmur run whose span is current."""
    token = _IN_RUN.set(True)
    try:
        yield
    finally:
        _IN_RUN.reset(token)


def _owned(attributes: Attributes) -> bool:
    if not _IN_RUN.get() or not attributes:
        return False
    operation = attributes.get("gen_ai.operation.name")
    if operation not in _OWNED_OPERATIONS:
        return False
    if operation == "execute_tool":
        # Output tools (`final_result...`) are PydanticAI's way of returning structured output,
        # not tool calls murmur gates and records: their spans stay.
        name = attributes.get("gen_ai.tool.name")
        return not (isinstance(name, str) and name.startswith("final_result"))
    return True


class _RunSpansTracer(Tracer):
    """A tracer that hands out a non-recording stand-in for spans murmur records itself.

    The stand-in carries the current span's context, so the spans started under it (a
    request's `chat` span) have murmur's span as their parent.
    """

    def __init__(self, inner: Tracer) -> None:
        self._inner = inner

    def start_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        """Start a span, or the stand-in for one murmur records itself."""
        if _owned(attributes):
            return NonRecordingSpan(trace.get_current_span(context).get_span_context())
        return self._inner.start_span(
            name,
            context=context,
            kind=kind,
            attributes=attributes,
            links=links,
            start_time=start_time,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        )

    @contextmanager
    def start_as_current_span(
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Generator[Span]:
        """Start a span (or its stand-in) and make it current inside the block."""
        span = self.start_span(
            name,
            context=context,
            kind=kind,
            attributes=attributes,
            links=links,
            start_time=start_time,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


class MurmurRunSpans(TracerProvider):
    """A tracer provider that leaves the agent-run and tool spans of murmur runs to murmur.

    Wraps `provider` (spans still go where it sends them). While a murmur run's span is current
    (`OTelContextMiddleware` on the runtime), spans with `gen_ai.operation.name`
    `invoke_agent` or `execute_tool` are not recorded; their children hang under murmur's span.

    Args:
        provider: The provider to wrap; default the global one.
    """

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider if provider is not None else trace.get_tracer_provider()

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Tracer:
        """The wrapped provider's tracer, filtered."""
        return _RunSpansTracer(
            self._provider.get_tracer(
                instrumenting_module_name,
                instrumenting_library_version,
                schema_url,
                attributes,
            )
        )


def instrument_pydantic_ai(
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: Any = None,
    apply: bool = True,
    **settings: Any,
) -> InstrumentationSettings:
    """Turn on PydanticAI's instrumentation for every agent, without duplicating murmur's spans.

    Use it instead of `pydantic_ai.Agent.instrument_all()`, with `OTelContextMiddleware` on the
    runtime: PydanticAI's `chat {model}` spans and token usage hang under murmur's
    `invoke_agent` span, and PydanticAI records no second agent-run span and no second
    `execute_tool` span for the tools murmur gates.

    Args:
        tracer_provider: Where spans go; default the global provider.
        meter_provider: Where PydanticAI's metrics go; default the global provider.
        apply: Call `pydantic_ai.Agent.instrument_all` with the settings (False: only build
            them, for `InstrumentedModel(model, settings)` on chosen agents).
        **settings: Passed on to PydanticAI's `InstrumentationSettings` (`include_content`,
            `version`, ...).

    Returns:
        The `InstrumentationSettings` built.

    Example:
        ```python
        runtime = AgentRuntime(event_emitter="otel", middleware=[OTelContextMiddleware()])
        instrument_pydantic_ai()
        ```
    """
    from pydantic_ai import Agent as PydanticAIAgent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    built = InstrumentationSettings(
        tracer_provider=MurmurRunSpans(tracer_provider),
        meter_provider=meter_provider,
        **settings,
    )
    if apply:
        PydanticAIAgent.instrument_all(built)
    return built

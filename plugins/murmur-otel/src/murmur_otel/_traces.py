"""`OTelTraceEmitter`: one span per run, tool call and group run, in one trace per request.

Spans are built from `RuntimeEvent`s, timed by the events' own timestamps:

- `invoke_agent {agent}` per run: operation, provider, request model at start (so samplers
  see them); tokens, cost, outcome and error code at the end; a `murmur.retry` event per
  retry with its attempt number.
- `execute_tool {tool}` per tool call, a child of its run; a call the trust gate denied is a
  span too, with status error and the reason.
- `invoke_workflow {group}` per group run; its nodes' runs are its children.
- A run spawned from a tool call is a child of that tool call's span.
- A run sent to a fleet: the caller's `invoke_agent` span (kind CLIENT) goes into the task
  envelope as its W3C `traceparent`; the worker's `invoke_agent` span is its child.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MethodType
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from murmur.events import EventType, RuntimeEvent
from murmur_otel import _semconv as sc
from murmur_otel._batch import BATCH, BatchedEmitter, BatchFlushing, RunFields
from murmur_otel._origin import Origin, origin_at
from murmur_otel._spans import SPANS, SpanIndex

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer, TracerProvider

    from murmur.execution import ExecutionContext

__all__ = ["OTelTraceEmitter"]

_PROPAGATOR = TraceContextTextMapPropagator()
_CACHE_SIZE = 4096
_OPENINFERENCE_KIND = "openinference.span.kind"
"""Phoenix (OpenInference) reads the span kind from this attribute."""
_LOCAL = Origin.LOCAL.value
_DISPATCH = Origin.DISPATCH.value
"""`SpanIndex.runs` keys hold these strings (an enum's `.value` is a Python property)."""


def _ns(timestamp: float) -> int:
    return int(timestamp * 1e9)


def traceparent_of(span: Span) -> str | None:
    """The W3C `traceparent` header naming `span`, or None for a non-recording span."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


class OTelTraceEmitter(BatchedEmitter, BatchFlushing):
    """Turns runtime events into OpenTelemetry spans.

    Args:
        tracer_provider: Where spans go; default the global provider
            (`opentelemetry.trace.set_tracer_provider`).
        batch: Hand events to the SDK in batches, off the run's path (default; see
            `OTelEmitter`), or each one as it happens.

    Example:
        ```python
        from opentelemetry.sdk.trace import TracerProvider
        from murmur.events import OTelTraceEmitter

        runtime = AgentRuntime(event_emitter=OTelTraceEmitter(tracer_provider=TracerProvider()))
        ```
    """

    def __init__(
        self, *, tracer_provider: TracerProvider | None = None, batch: bool = True
    ) -> None:
        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(sc.SCOPE_NAME, sc.scope_version())
        self.batch = batch
        self._spans: SpanIndex = SPANS
        self._agents: dict[tuple[str, str], dict[str, Any]] = {}
        self._on = self.handlers()

    def _submit(
        self,
        kind: EventType,
        trace_id: str | None,
        event: RuntimeEvent | RunFields,
        *,
        batched: bool,
    ) -> None:
        on_trace = self._on.get(kind)
        if on_trace is None:
            return
        origin, ctx = origin_at(kind, trace_id)
        if origin is not Origin.RELAYED:
            BATCH.submit(on_trace, None, event, origin, ctx, self, batched=batched)

    def handlers(
        self,
    ) -> dict[EventType, Callable[[RuntimeEvent, Origin, ExecutionContext | None], None]]:
        """The handler of each event type a span is built from, bound to this emitter.

        For events that are not relayed; `OTelEmitter` calls them directly.
        """
        return {kind: MethodType(handler, self) for kind, handler in _HANDLERS.items()}

    # -- runs -------------------------------------------------------------------------

    def _retried(self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None) -> None:
        key = _DISPATCH if origin is Origin.DISPATCH else _LOCAL
        span = self._spans.runs.get((str(event.trace_id), key))
        if span is not None:
            attempt = int(event.payload.get("attempt") or 1)
            span.add_event(
                "murmur.retry",
                {"murmur.attempt": attempt, "murmur.next_attempt": attempt + 1},
                timestamp=_ns(event.timestamp),
            )

    def _run_started(
        self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None
    ) -> None:
        if ctx is None:
            return
        attributes = {
            **self._agent_attributes(event, ctx),
            "murmur.backend": ctx.backend,
            "murmur.depth": ctx.depth,
            "murmur.task_id": ctx.task.id,
            "murmur.trace_id": ctx.trace_id,
        }
        if ctx.parent_trace_id:
            attributes["murmur.parent_trace_id"] = ctx.parent_trace_id
        dispatch = origin is Origin.DISPATCH
        span = self.tracer.start_span(
            f"invoke_agent {ctx.agent.name}",
            context=self._run_parent(event, ctx),
            kind=SpanKind.CLIENT if dispatch else SpanKind.INTERNAL,
            attributes=attributes,
            start_time=int(event.timestamp * 1e9),
        )
        self._spans.runs.put((ctx.trace_id, _DISPATCH if dispatch else _LOCAL), span)
        if dispatch:
            # The worker's span becomes a child of this one: JobBackend sends it along.
            ctx.traceparent = traceparent_of(span) or ctx.traceparent

    def _agent_attributes(self, event: RuntimeEvent, ctx: ExecutionContext) -> dict[str, Any]:
        """The attributes every run span of this agent and model starts with (built once)."""
        model = event.payload.get("model") or ctx.agent.model_name
        key = (ctx.agent.name, model)
        cached = self._agents.get(key)
        if cached is None:
            cached = {
                sc.OPERATION_NAME: "invoke_agent",
                sc.PROVIDER_NAME: sc.provider_name(ctx.agent.model),
                sc.AGENT_NAME: ctx.agent.name,
                _OPENINFERENCE_KIND: "AGENT",
            }
            request_model = sc.request_model(model)
            if request_model:
                cached[sc.REQUEST_MODEL] = request_model
            if len(self._agents) >= _CACHE_SIZE:
                self._agents.clear()
            self._agents[key] = cached
        return cached

    def _run_parent(self, event: RuntimeEvent, ctx: ExecutionContext) -> Context | None:
        """The span a run hangs under (None: the current span, e.g. the user's own)."""
        if ctx.traceparent:  # a worker executing a task: the caller's span
            return _PROPAGATOR.extract({"traceparent": ctx.traceparent})
        if event.parent_trace_id:
            group = self._spans.groups.get(event.parent_trace_id)
            if group is not None:
                return trace.set_span_in_context(group)
        parent = ctx.parent
        if parent is not None:
            tool = None
            if parent.tool_call_id:
                tool = self._spans.tools.get((parent.trace_id, parent.tool_call_id))
            run = tool or self._spans.runs.get((parent.trace_id, _LOCAL))
            if run is not None:
                return trace.set_span_in_context(run)
        return None

    def _run_ended(self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None) -> None:
        key = _DISPATCH if origin is Origin.DISPATCH else _LOCAL
        span = self._spans.runs.pop((str(event.trace_id), key), None)
        if span is None:
            return
        payload = event.payload
        if event.event_type is EventType.AGENT_COMPLETED:
            attributes: dict[str, Any] = {
                sc.INPUT_TOKENS: int(payload.get("input_tokens") or 0),
                sc.OUTPUT_TOKENS: int(payload.get("output_tokens") or 0),
                "murmur.outcome": "ok",
                "murmur.attempts": int(payload.get("attempts") or 1),
            }
            model = sc.request_model(payload.get("model"))
            if model:
                attributes[sc.RESPONSE_MODEL] = model
            if payload.get("cost_usd") is not None:
                attributes["murmur.cost_usd"] = float(payload["cost_usd"])
            span.set_attributes(attributes)
        else:
            code = str(payload.get("code") or "error")
            span.set_attributes(
                {
                    sc.ERROR_TYPE: code,
                    "murmur.outcome": "error",
                    "murmur.error.code": code,
                    "murmur.error.type": str(payload.get("error_type") or "MurmurError"),
                    "murmur.attempts": int(payload.get("attempts") or 1),
                }
            )
            span.set_status(Status(StatusCode.ERROR, str(payload.get("error") or code)))
        span.end(end_time=int(event.timestamp * 1e9))

    # -- tool calls -------------------------------------------------------------------

    def _tool_started(
        self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None
    ) -> None:
        payload = event.payload
        trace_id = str(event.trace_id)
        call_id = payload.get("tool_call_id")
        self._spans.tools.put(
            (trace_id, str(call_id or f"name:{payload.get('tool')}")),
            self._start_tool(event, trace_id, call_id),
        )

    def _start_tool(self, event: RuntimeEvent, trace_id: str, call_id: object) -> Span:
        payload = event.payload
        tool = str(payload.get("tool") or "tool")
        run = self._spans.runs.get((trace_id, _LOCAL))
        attributes: dict[str, Any] = {
            sc.OPERATION_NAME: "execute_tool",
            sc.TOOL_NAME: tool,
            sc.TOOL_TYPE: "function",
            _OPENINFERENCE_KIND: "TOOL",
        }
        if event.agent_name:
            attributes[sc.AGENT_NAME] = event.agent_name
        if call_id:
            attributes[sc.TOOL_CALL_ID] = str(call_id)
        return self.tracer.start_span(
            f"execute_tool {tool}",
            context=trace.set_span_in_context(run) if run is not None else None,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=int(event.timestamp * 1e9),
        )

    def _tool_ended(
        self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None
    ) -> None:
        payload = event.payload
        trace_id = str(event.trace_id)
        call_id = payload.get("tool_call_id")
        span = self._spans.tools.pop(
            (trace_id, str(call_id or f"name:{payload.get('tool')}")), None
        )
        if span is None:  # denied by the trust gate before it started
            span = self._start_tool(event, trace_id, call_id)
        if event.event_type is EventType.TOOL_CALL_FAILED:
            code = str(payload.get("code") or "tool_failed")
            attributes: dict[str, Any] = {sc.ERROR_TYPE: code, "murmur.outcome": "error"}
            if payload.get("denied"):
                attributes["murmur.tool.denied"] = True
                attributes["murmur.outcome"] = "denied"
            span.set_attributes(attributes)
            span.set_status(Status(StatusCode.ERROR, str(payload.get("error") or code)))
        else:
            span.set_attribute("murmur.outcome", "ok")
        span.end(end_time=int(event.timestamp * 1e9))

    # -- group runs -------------------------------------------------------------------

    def _group_started(
        self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None
    ) -> None:
        group = str(event.payload.get("group") or event.agent_name or "group")
        parent: Context | None = None
        if ctx is not None:  # started from a run: `origin_at` reads the run's context
            run = self._spans.runs.get((ctx.trace_id, _LOCAL))
            if run is not None:
                parent = trace.set_span_in_context(run)
        span = self.tracer.start_span(
            f"invoke_workflow {group}",
            context=parent,
            kind=SpanKind.INTERNAL,
            attributes={
                sc.OPERATION_NAME: "invoke_workflow",
                sc.WORKFLOW_NAME: group,
                _OPENINFERENCE_KIND: "CHAIN",
                "murmur.trace_id": str(event.trace_id),
            },
            start_time=int(event.timestamp * 1e9),
        )
        self._spans.groups.put(str(event.trace_id), span)

    def _process_started(
        self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None
    ) -> None:
        """An agent process: a workflow span under its parent process's span, if any.

        Its agents' runs and child processes name it as their parent, so they hang under it
        (`_run_parent` looks workflows up by the parent trace id).
        """
        name = str(event.agent_name or "process")
        parent_span = self._spans.groups.get(str(event.parent_trace_id))
        span = self.tracer.start_span(
            f"invoke_workflow {name}",
            context=trace.set_span_in_context(parent_span) if parent_span is not None else None,
            kind=SpanKind.INTERNAL,
            attributes={
                sc.OPERATION_NAME: "invoke_workflow",
                sc.WORKFLOW_NAME: name,
                _OPENINFERENCE_KIND: "CHAIN",
                "murmur.kind": "process",
                "murmur.trace_id": str(event.trace_id),
            },
            start_time=int(event.timestamp * 1e9),
        )
        self._spans.groups.put(str(event.trace_id), span)

    def _group_ended(
        self, event: RuntimeEvent, origin: Origin, ctx: ExecutionContext | None
    ) -> None:
        span = self._spans.groups.pop(str(event.trace_id), None)
        if span is None:
            return
        if event.event_type is EventType.PROCESS_CANCELLED:
            span.set_attribute("murmur.outcome", "cancelled")
        elif event.event_type in (EventType.GROUP_FAILED, EventType.PROCESS_FAILED):
            code = str(event.payload.get("code") or "group_failed")
            span.set_attributes({sc.ERROR_TYPE: code, "murmur.outcome": "error"})
            span.set_status(Status(StatusCode.ERROR, str(event.payload.get("error") or code)))
        else:
            span.set_attribute("murmur.outcome", "ok")
        span.end(end_time=_ns(event.timestamp))


_HANDLERS = {
    EventType.AGENT_SPAWNED: OTelTraceEmitter._run_started,
    EventType.AGENT_COMPLETED: OTelTraceEmitter._run_ended,
    EventType.AGENT_FAILED: OTelTraceEmitter._run_ended,
    EventType.TOOL_CALL_STARTED: OTelTraceEmitter._tool_started,
    EventType.TOOL_CALL_COMPLETED: OTelTraceEmitter._tool_ended,
    EventType.TOOL_CALL_FAILED: OTelTraceEmitter._tool_ended,
    EventType.AGENT_RETRIED: OTelTraceEmitter._retried,
    EventType.GROUP_STARTED: OTelTraceEmitter._group_started,
    EventType.GROUP_COMPLETED: OTelTraceEmitter._group_ended,
    EventType.GROUP_FAILED: OTelTraceEmitter._group_ended,
    EventType.PROCESS_STARTED: OTelTraceEmitter._process_started,
    EventType.PROCESS_DONE: OTelTraceEmitter._group_ended,
    EventType.PROCESS_FAILED: OTelTraceEmitter._group_ended,
    EventType.PROCESS_CANCELLED: OTelTraceEmitter._group_ended,
}
"""The handler of each event type a span is built from."""

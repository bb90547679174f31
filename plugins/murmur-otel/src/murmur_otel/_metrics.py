"""`OTelMetricsEmitter`: GenAI semantic-convention histograms, murmur counters, fleet gauges.

Attributes are names the code defines (agent, tool, model, provider, error code, outcome),
each capped at `max_attribute_values` distinct values (`_OTHER` past it): never a task id,
trace id, input or output.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import MethodType
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from murmur.events import EventType, RuntimeEvent
from murmur_otel import _semconv as sc
from murmur_otel._batch import BATCH, BatchedEmitter, BatchFlushing, MetricHandler, RunFields
from murmur_otel._bounded import BoundedValues
from murmur_otel._origin import Origin, origin_at
from murmur_otel._tally import Tally, TallyKey, tally_key

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

    from murmur.execution import ExecutionContext

__all__ = ["OTelMetricsEmitter", "pydantic_ai_instrumented"]


_RUN_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class _RunAttributes:
    """What a finished run of one agent and model records with, built once."""

    agent_key: TallyKey
    ok_key: TallyKey
    duration: dict[str, Any]
    input_tokens: dict[str, Any]
    output_tokens: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _ToolAttributes:
    """What a successful call of one agent's tool records with, built once."""

    duration: dict[str, Any]
    ok_key: TallyKey


def pydantic_ai_instrumented(model: object = None) -> bool:
    """True when PydanticAI's own instrumentation records `gen_ai.client.token.usage`.

    It records it per model request when it is on for every agent
    (`pydantic_ai.Agent.instrument_all()`), or when `model` is an `InstrumentedModel`.
    """
    module = sys.modules.get("pydantic_ai.agent")
    agent_class = getattr(module, "Agent", None) if module is not None else None
    if getattr(agent_class, "_instrument_default", False):
        return True
    instrumented = sys.modules.get("pydantic_ai.models.instrumented")
    model_class = getattr(instrumented, "InstrumentedModel", None)
    return model_class is not None and isinstance(model, model_class)


class OTelMetricsEmitter(BatchedEmitter, BatchFlushing):
    """Records runtime events as OpenTelemetry metrics.

    Every run is measured once, where it executes: a run sent to a fleet is recorded by the
    worker that ran it (the caller's copy and the events the worker relays are skipped).

    Args:
        meter_provider: Where metrics go; default the global provider
            (`opentelemetry.metrics.set_meter_provider`).
        record_token_usage: Record `gen_ai.client.token.usage`. None (default): unless
            PydanticAI's own instrumentation is on, which records it per model request, so
            tokens are never counted twice.
        max_attribute_values: Distinct values kept per attribute key (agent names, tool
            names, ...); later ones are recorded as `_OTHER`.
        worker_ttl_s: A worker whose last heartbeat is older than this no longer counts in
            `murmur.fleet.workers`.
        batch: Hand events to the SDK in batches, off the run's path (default; see
            `OTelEmitter`), or each one as it happens.

    Example:
        ```python
        from opentelemetry.sdk.metrics import MeterProvider
        from murmur.events import OTelMetricsEmitter

        runtime = AgentRuntime(event_emitter=OTelMetricsEmitter(meter_provider=MeterProvider()))
        ```
    """

    def __init__(
        self,
        *,
        meter_provider: MeterProvider | None = None,
        record_token_usage: bool | None = None,
        max_attribute_values: int = 100,
        worker_ttl_s: float = 30.0,
        batch: bool = True,
    ) -> None:
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self.provider = provider
        self.batch = batch
        meter = provider.get_meter(sc.SCOPE_NAME, sc.scope_version())
        self.record_token_usage = record_token_usage
        self.worker_ttl_s = worker_ttl_s
        self._bounded = BoundedValues(max_attribute_values)
        self._workers: dict[str, tuple[float, int]] = {}
        self._run_cache: dict[tuple[str | None, str | None], _RunAttributes] = {}
        self._tool_cache: dict[tuple[str | None, object], _ToolAttributes] = {}
        self._agent_cache: dict[str | None, dict[str, Any]] = {}
        self._agent_keys: dict[str | None, TallyKey] = {}
        self.token_usage = meter.create_histogram(
            sc.TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=sc.TOKEN_BUCKETS,
        )
        self.operation_duration = meter.create_histogram(
            sc.OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self.agent_duration = meter.create_histogram(
            sc.AGENT_DURATION,
            unit="s",
            description="The end-to-end duration of a single agent invocation.",
            explicit_bucket_boundaries_advisory=sc.AGENT_DURATION_BUCKETS,
        )
        self.tool_duration = meter.create_histogram(
            sc.TOOL_DURATION,
            unit="s",
            description="The duration of a single tool execution.",
            explicit_bucket_boundaries_advisory=sc.DURATION_BUCKETS,
        )
        self.workflow_duration = meter.create_histogram(
            sc.WORKFLOW_DURATION,
            unit="s",
            description="GenAI workflow (murmur group run) duration.",
            explicit_bucket_boundaries_advisory=sc.WORKFLOW_DURATION_BUCKETS,
        )
        self.runs = Tally.counter(
            meter, "murmur.runs", "{run}", "Finished runs by agent, outcome, error code."
        )
        self.active = Tally.counter(
            meter, "murmur.runs.active", "{run}", "Runs executing in this process.", up_down=True
        )
        self.tool_calls = Tally.counter(
            meter, "murmur.tool_calls", "{call}", "Tool calls by tool and outcome."
        )
        self.trust_rejections = Tally.counter(
            meter, "murmur.trust.rejections", "{call}", "Tool calls the trust gate denied."
        )
        self.rejected_envelopes = Tally.counter(
            meter,
            "murmur.envelopes.rejected",
            "{envelope}",
            "Task envelopes a worker refused (bad signature, replay, malformed).",
        )
        self.budget_hits = Tally.counter(
            meter, "murmur.budget.exceeded", "{run}", "Runs stopped by a token budget."
        )
        self.spawns = Tally.counter(
            meter,
            "murmur.spawns",
            "{run}",
            "Runs spawned by runs (outcome started) or refused by the spawn limits.",
        )
        self.retries = Tally.counter(
            meter, "murmur.retries", "{attempt}", "Attempts retried after a failure."
        )
        meter.create_observable_gauge(
            "murmur.fleet.workers",
            callbacks=[self._observe_workers],
            unit="{worker}",
            description="Workers whose heartbeat this process has seen recently.",
        )
        meter.create_observable_gauge(
            "murmur.fleet.in_flight",
            callbacks=[self._observe_in_flight],
            unit="{task}",
            description="Tasks executing on the workers counted in murmur.fleet.workers.",
        )
        self._on = self.handlers()
        self._on_completed = self._on[EventType.AGENT_COMPLETED]

    def _submit(
        self,
        kind: EventType,
        trace_id: str | None,
        event: RuntimeEvent | RunFields,
        *,
        batched: bool,
    ) -> None:
        on_metric = self._on.get(kind)
        if on_metric is None:
            return
        origin, ctx = origin_at(kind, trace_id)
        if origin is Origin.LOCAL:
            on_metric = self.at_event(on_metric, ctx)
            BATCH.submit(None, on_metric, event, origin, ctx, self, batched=batched)

    def handlers(self) -> dict[EventType, Callable[[RuntimeEvent, ExecutionContext | None], None]]:
        """The handler of each event type this emitter records, bound to it.

        For events of a run executed here; `OTelEmitter` calls them directly.
        """
        return {kind: MethodType(handler, self) for kind, handler in _HANDLERS.items()}

    # -- helpers ----------------------------------------------------------------------

    def _v(self, key: str, value: object) -> str:
        return self._bounded(key, value)

    def _agent(self, event: RuntimeEvent) -> dict[str, Any]:
        cached = self._agent_cache.get(event.agent_name)
        if cached is None:
            if len(self._agent_cache) >= _RUN_CACHE_SIZE:
                self._agent_cache.clear()
            name = self._v(sc.AGENT_NAME, event.agent_name or "unknown")
            cached = self._agent_cache[event.agent_name] = {sc.AGENT_NAME: name}
        return cached

    def _agent_key(self, event: RuntimeEvent) -> TallyKey:
        key = self._agent_keys.get(event.agent_name)
        if key is None:
            if len(self._agent_keys) >= _RUN_CACHE_SIZE:
                self._agent_keys.clear()
            key = self._agent_keys[event.agent_name] = tally_key(self._agent(event))
        return key

    def _model_attributes(self, model: str | None, ctx: ExecutionContext | None) -> dict[str, Any]:
        provider = sc.provider_name(ctx.agent.model if ctx is not None else model)
        attributes: dict[str, Any] = {sc.PROVIDER_NAME: self._v(sc.PROVIDER_NAME, provider)}
        name = sc.request_model(model)
        if name:
            attributes[sc.REQUEST_MODEL] = self._v(sc.REQUEST_MODEL, name)
        return attributes

    # -- handlers ---------------------------------------------------------------------

    # Counts on the per-run path are dict increments on prebuilt keys (`Tally.counts`).

    def _spawned(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        key = self._agent_keys.get(event.agent_name) or self._agent_key(event)
        active = self.active.counts
        active[key] = active.get(key, 0) + 1
        if int(event.payload.get("depth") or 0) > 0:
            self.spawns.add(1, {**self._agent(event), "murmur.outcome": "started"})

    def _run_attributes(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> _RunAttributes:
        """The attribute sets a finished run records with, built once per agent and model."""
        model = event.payload.get("model")
        key = (event.agent_name, model)
        cached = self._run_cache.get(key)
        if cached is not None:
            return cached
        agent = self._agent(event)
        models = self._model_attributes(model, ctx)
        duration = {**agent, sc.OPERATION_NAME: "invoke_agent", **models}
        if model and sc.REQUEST_MODEL in duration:
            duration[sc.RESPONSE_MODEL] = duration[sc.REQUEST_MODEL]
        made = _RunAttributes(
            agent_key=self._agent_key(event),
            ok_key=tally_key({**agent, "murmur.outcome": "ok"}),
            duration=duration,
            input_tokens={**duration, sc.TOKEN_TYPE: "input"},
            output_tokens={**duration, sc.TOKEN_TYPE: "output"},
        )
        if len(self._run_cache) >= _RUN_CACHE_SIZE:
            self._run_cache.clear()
        self._run_cache[key] = made
        return made

    def _completed(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        self._finished(event, ctx, self._counts_tokens(ctx))

    def _completed_counting_tokens(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        self._finished(event, ctx, True)

    def _completed_not_counting_tokens(
        self, event: RuntimeEvent, ctx: ExecutionContext | None
    ) -> None:
        self._finished(event, ctx, False)

    def _counts_tokens(self, ctx: ExecutionContext | None) -> bool:
        """Whether a run finishing now records its tokens (see `record_token_usage`)."""
        wanted = self.record_token_usage
        if wanted is None:
            return not pydantic_ai_instrumented(ctx.agent.model if ctx is not None else None)
        return wanted

    def at_event(self, handler: MetricHandler, ctx: ExecutionContext | None) -> MetricHandler:
        """The handler to queue for an event: what is true only when it happens is read now.

        That is whether PydanticAI's instrumentation is on (it records the tokens then).
        """
        if handler == self._on_completed:
            if self._counts_tokens(ctx):
                return self._completed_counting_tokens
            return self._completed_not_counting_tokens
        return handler

    def _finished(self, event: RuntimeEvent, ctx: ExecutionContext | None, tokens: bool) -> None:
        payload = event.payload
        attributes = self._run_cache.get(
            (event.agent_name, payload.get("model"))
        ) or self._run_attributes(event, ctx)
        active = self.active.counts
        active[attributes.agent_key] = active.get(attributes.agent_key, 0) - 1
        runs = self.runs.counts
        runs[attributes.ok_key] = runs.get(attributes.ok_key, 0) + 1
        seconds = float(payload.get("duration_ms") or 0.0) / 1000
        self.agent_duration.record(seconds, attributes.duration)
        self.operation_duration.record(seconds, attributes.duration)
        if tokens:
            if count := int(payload.get("input_tokens") or 0):
                self.token_usage.record(count, attributes.input_tokens)
            if count := int(payload.get("output_tokens") or 0):
                self.token_usage.record(count, attributes.output_tokens)

    def _failed(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        payload = event.payload
        agent = self._agent(event)
        code = self._v(sc.ERROR_TYPE, payload.get("code") or "error")
        self.active.add(-1, agent)
        self.runs.add(1, {**agent, "murmur.outcome": "error", "murmur.error.code": code})
        seconds = float(payload.get("duration_ms") or 0.0) / 1000
        attributes = {
            **agent,
            sc.OPERATION_NAME: "invoke_agent",
            sc.ERROR_TYPE: code,
            **self._model_attributes(payload.get("model"), ctx),
        }
        self.agent_duration.record(seconds, attributes)
        self.operation_duration.record(seconds, attributes)

    def _tool_ended(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        payload = event.payload
        if event.event_type is EventType.TOOL_CALL_COMPLETED:
            cached = self._tool_cache.get((event.agent_name, payload.get("tool")))
            if cached is None:
                cached = self._tool_attributes(event)
            calls = self.tool_calls.counts
            calls[cached.ok_key] = calls.get(cached.ok_key, 0) + 1
            self.tool_duration.record(
                float(payload.get("duration_ms") or 0.0) / 1000, cached.duration
            )
            return
        tool = self._v(sc.TOOL_NAME, payload.get("tool") or "tool")
        attributes: dict[str, Any] = {
            **self._agent(event),
            sc.TOOL_NAME: tool,
            sc.OPERATION_NAME: "execute_tool",
        }
        outcome = "denied" if payload.get("denied") else "error"
        attributes[sc.ERROR_TYPE] = self._v(sc.ERROR_TYPE, payload.get("code") or "tool_failed")
        self.tool_calls.add(1, {**attributes, "murmur.outcome": outcome})
        if outcome == "denied":
            self.trust_rejections.add(1, {**self._agent(event), sc.TOOL_NAME: tool})
            return
        self.tool_duration.record(float(payload.get("duration_ms") or 0.0) / 1000, attributes)

    def _tool_attributes(self, event: RuntimeEvent) -> _ToolAttributes:
        """The attribute sets a successful call of this agent's tool records with."""
        raw = event.payload.get("tool")
        duration: dict[str, Any] = {
            **self._agent(event),
            sc.TOOL_NAME: self._v(sc.TOOL_NAME, raw or "tool"),
            sc.OPERATION_NAME: "execute_tool",
        }
        made = _ToolAttributes(duration, tally_key({**duration, "murmur.outcome": "ok"}))
        if len(self._tool_cache) >= _RUN_CACHE_SIZE:
            self._tool_cache.clear()
        self._tool_cache[(event.agent_name, raw)] = made
        return made

    def _rejected(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        reason = self._v("murmur.reason", event.payload.get("reason") or "malformed")
        self.rejected_envelopes.add(1, {"murmur.reason": reason})

    def _budget(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        phase = self._v("murmur.phase", event.payload.get("phase") or "run")
        self.budget_hits.add(1, {**self._agent(event), "murmur.phase": phase})

    def _refused(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        reason = self._v("murmur.reason", event.payload.get("reason") or "refused")
        self.spawns.add(
            1, {**self._agent(event), "murmur.outcome": "refused", "murmur.reason": reason}
        )

    def _retried(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        self.retries.add(1, self._agent(event))

    def _group_ended(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        payload = event.payload
        group = self._v(sc.WORKFLOW_NAME, payload.get("group") or event.agent_name or "group")
        attributes: dict[str, Any] = {sc.WORKFLOW_NAME: group}
        if event.event_type is EventType.GROUP_FAILED:
            attributes[sc.ERROR_TYPE] = self._v(sc.ERROR_TYPE, payload.get("code") or "error")
        self.workflow_duration.record(float(payload.get("duration_ms") or 0.0) / 1000, attributes)

    def _heartbeat(self, event: RuntimeEvent, ctx: ExecutionContext | None) -> None:
        consumer = event.payload.get("consumer_id")
        if not isinstance(consumer, str):
            return
        if event.event_type is EventType.WORKER_STOPPED:
            self._workers.pop(consumer, None)
            return
        self._workers[consumer] = (time.monotonic(), int(event.payload.get("in_flight") or 0))

    def _live(self) -> list[tuple[float, int]]:
        cutoff = time.monotonic() - self.worker_ttl_s
        for consumer, (seen, _) in list(self._workers.items()):
            if seen < cutoff:
                del self._workers[consumer]
        return list(self._workers.values())

    def _observe_workers(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(len(self._live()))]

    def _observe_in_flight(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(sum(n for _, n in self._live()))]


_HANDLERS = {
    EventType.AGENT_SPAWNED: OTelMetricsEmitter._spawned,
    EventType.AGENT_COMPLETED: OTelMetricsEmitter._completed,
    EventType.AGENT_FAILED: OTelMetricsEmitter._failed,
    EventType.TOOL_CALL_COMPLETED: OTelMetricsEmitter._tool_ended,
    EventType.TOOL_CALL_FAILED: OTelMetricsEmitter._tool_ended,
    EventType.TASK_REJECTED: OTelMetricsEmitter._rejected,
    EventType.BUDGET_EXCEEDED: OTelMetricsEmitter._budget,
    EventType.SPAWN_REFUSED: OTelMetricsEmitter._refused,
    EventType.AGENT_RETRIED: OTelMetricsEmitter._retried,
    EventType.GROUP_COMPLETED: OTelMetricsEmitter._group_ended,
    EventType.GROUP_FAILED: OTelMetricsEmitter._group_ended,
    EventType.WORKER_STARTED: OTelMetricsEmitter._heartbeat,
    EventType.WORKER_HEARTBEAT: OTelMetricsEmitter._heartbeat,
    EventType.WORKER_STOPPED: OTelMetricsEmitter._heartbeat,
}

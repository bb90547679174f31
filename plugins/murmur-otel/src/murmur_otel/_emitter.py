"""`OTelEmitter`: metrics and traces from one emitter (what `event_emitter="otel"` builds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from murmur.events import EventType
from murmur_otel._batch import BATCH, BatchedEmitter, RunFields
from murmur_otel._configure import configure_from_env, has_global_providers
from murmur_otel._configure import wants_env_configuration as _wants_env
from murmur_otel._metrics import OTelMetricsEmitter
from murmur_otel._origin import Origin, origin_at
from murmur_otel._traces import OTelTraceEmitter

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from murmur.events import RuntimeEvent

__all__ = ["OTelEmitter"]

_COMPLETED = EventType.AGENT_COMPLETED


class OTelEmitter(BatchedEmitter):
    """Records every runtime event as OpenTelemetry metrics and spans.

    Providers follow OpenTelemetry's own conventions: the ones passed here, else the
    global ones. With `from_env` (the default, and what `event_emitter="otel"` and
    `--emitter otel` use), when the application set no global provider and the standard
    `OTEL_*` variables name an exporter or an OTLP endpoint, SDK providers are built from
    them (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`, ...) and set globally first.

    Events reach the SDK in batches, off the run's path: within `0.2 s`, or when 1,024 are
    waiting, and at once for the start of a run sent to a fleet. `flush()` hands over what
    is waiting (`force_flush()` then flushes the providers too); so does the interpreter's
    exit. With `batch=False` every event reaches the SDK before `emit` returns.

    Args:
        meter_provider: Where metrics go (default: the global provider).
        tracer_provider: Where spans go (default: the global provider).
        metrics: Record metrics.
        traces: Record spans.
        record_token_usage: See `OTelMetricsEmitter`.
        from_env: Configure global SDK providers from `OTEL_*` variables when none is set.
        batch: Hand events to the SDK in batches (default), or each one as it happens.

    Example:
        ```python
        runtime = AgentRuntime(event_emitter=OTelEmitter(
            meter_provider=meter_provider, tracer_provider=tracer_provider))
        ```
    """

    def __init__(
        self,
        *,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        metrics: bool = True,
        traces: bool = True,
        record_token_usage: bool | None = None,
        from_env: bool = True,
        batch: bool = True,
    ) -> None:
        if from_env and _wants_env() and not all(has_global_providers()):
            configure_from_env()
        self.batch = batch
        self.metrics: OTelMetricsEmitter | None = (
            OTelMetricsEmitter(
                meter_provider=meter_provider, record_token_usage=record_token_usage, batch=batch
            )
            if metrics
            else None
        )
        self.traces: OTelTraceEmitter | None = (
            OTelTraceEmitter(tracer_provider=tracer_provider, batch=batch) if traces else None
        )
        # Each event goes straight to the handlers of its type (most events have one or two).
        self._on_trace = self.traces.handlers() if self.traces is not None else {}
        self._on_metric = self.metrics.handlers() if self.metrics is not None else {}

    def _submit(
        self,
        kind: EventType,
        trace_id: str | None,
        event: RuntimeEvent | RunFields,
        *,
        batched: bool,
    ) -> None:
        on_trace = self._on_trace.get(kind)
        on_metric = self._on_metric.get(kind)
        if on_trace is None and on_metric is None:
            return
        origin, ctx = origin_at(kind, trace_id)
        if origin is not Origin.LOCAL:
            on_metric = None
            if origin is Origin.RELAYED:
                return
            if on_trace is None:
                return
        elif kind is _COMPLETED and on_metric is not None and self.metrics is not None:
            on_metric = self.metrics.at_event(on_metric, ctx)
        BATCH.submit(on_trace, on_metric, event, origin, ctx, self, batched=batched)

    def flush(self) -> None:
        """Hand every event waiting in this process's batch to the SDK now."""
        BATCH.flush()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """`flush()`, then the providers' own `force_flush` (export what they hold)."""
        BATCH.flush()
        done = True
        for part in (self.traces, self.metrics):
            if part is not None:
                done = part.flush_provider(timeout_millis) and done
        return done

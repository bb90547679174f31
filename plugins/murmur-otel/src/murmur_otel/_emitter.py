"""`OTelEmitter`: metrics and traces from one emitter (what `event_emitter="otel"` builds)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from murmur_otel._configure import configure_from_env, has_global_providers
from murmur_otel._configure import wants_env_configuration as _wants_env
from murmur_otel._metrics import OTelMetricsEmitter
from murmur_otel._origin import Origin, origin_of
from murmur_otel._traces import OTelTraceEmitter

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from murmur.events import RuntimeEvent

__all__ = ["OTelEmitter"]


class OTelEmitter:
    """Records every runtime event as OpenTelemetry metrics and spans.

    Providers follow OpenTelemetry's own conventions: the ones passed here, else the
    global ones. With `from_env` (the default, and what `event_emitter="otel"` and
    `--emitter otel` use), when the application set no global provider and the standard
    `OTEL_*` variables name an exporter or an OTLP endpoint, SDK providers are built from
    them (`OTEL_SERVICE_NAME`, `OTEL_EXPORTER_OTLP_ENDPOINT`, ...) and set globally first.

    Args:
        meter_provider: Where metrics go (default: the global provider).
        tracer_provider: Where spans go (default: the global provider).
        metrics: Record metrics.
        traces: Record spans.
        record_token_usage: See `OTelMetricsEmitter`.
        from_env: Configure global SDK providers from `OTEL_*` variables when none is set.

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
    ) -> None:
        if from_env and _wants_env() and not all(has_global_providers()):
            configure_from_env()
        self.metrics: OTelMetricsEmitter | None = (
            OTelMetricsEmitter(meter_provider=meter_provider, record_token_usage=record_token_usage)
            if metrics
            else None
        )
        self.traces: OTelTraceEmitter | None = (
            OTelTraceEmitter(tracer_provider=tracer_provider) if traces else None
        )
        # Each event goes straight to the handlers of its type (most events have one or two).
        self._on_trace = self.traces.handlers() if self.traces is not None else {}
        self._on_metric = self.metrics.handlers() if self.metrics is not None else {}

    async def emit(self, event: RuntimeEvent) -> None:
        """Record one event as spans, then as metrics."""
        self.emit_nowait(event)

    def emit_nowait(self, event: RuntimeEvent) -> None:
        """Record one event (synchronous: the runtime calls this directly, no coroutine)."""
        kind = event.event_type
        on_trace = self._on_trace.get(kind)
        on_metric = self._on_metric.get(kind)
        if on_trace is None and on_metric is None:
            return
        origin, ctx = origin_of(event)
        if on_trace is not None and origin is not Origin.RELAYED:
            on_trace(event, origin, ctx)
        if on_metric is not None and origin is Origin.LOCAL:
            on_metric(event, ctx)

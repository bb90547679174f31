"""SDK providers from the standard `OTEL_*` environment variables, for the CLI.

`murmur worker start --emitter otel` and `murmur serve --emitter otel` run no user code
that could set up OpenTelemetry (an `--app` module may, and then its providers are used).
Without one, the providers are built here the way OpenTelemetry's own SDK configuration
reads the environment: `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` name the resource,
`OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` choose `otlp` (default), `console` or
`none`, and the OTLP/HTTP exporter reads `OTEL_EXPORTER_OTLP_ENDPOINT` and friends itself.
"""

from __future__ import annotations

import os
from typing import Any

from murmur.core.errors import RegistryError

__all__ = ["configure_from_env", "has_global_providers", "wants_env_configuration"]

_ENV_KEYS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
)


def wants_env_configuration() -> bool:
    """True when the environment names an exporter or an OTLP endpoint."""
    return any(os.environ.get(key) for key in _ENV_KEYS)


def has_global_providers() -> tuple[bool, bool]:
    """Whether the application set a global tracer provider and meter provider."""
    from opentelemetry import metrics, trace

    tracer_set = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    meter_provider = metrics.get_meter_provider()
    meter_set = not type(meter_provider).__name__.startswith(("_Proxy", "NoOp"))
    return tracer_set, meter_set


def _exporter_choice(variable: str) -> str:
    return (os.environ.get(variable) or "otlp").split(",")[0].strip().lower()


def _missing_exporter(exc: ImportError) -> RegistryError:
    return RegistryError(
        f"OTLP export needs the OTLP/HTTP exporter ({exc}): pip install 'murmur-otel[otlp]' "
        "(or set OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER to console or none)",
        code="exporter_missing",
    )


def _span_exporter(choice: str) -> Any:
    if choice == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise _missing_exporter(exc) from None
    return OTLPSpanExporter()


def _metric_exporter(choice: str) -> Any:
    if choice == "console":
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter

        return ConsoleMetricExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    except ImportError as exc:
        raise _missing_exporter(exc) from None
    return OTLPMetricExporter()


def configure_from_env() -> None:
    """Set SDK global providers from `OTEL_*` variables, where the application set none.

    Raises:
        RegistryError: OTLP export is asked for and the exporter is not installed (code
            `"exporter_missing"`).
    """
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.resources import Resource

    tracer_set, meter_set = has_global_providers()
    resource = Resource.create()
    traces = _exporter_choice("OTEL_TRACES_EXPORTER")
    if not tracer_set and traces != "none":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(_span_exporter(traces)))
        trace.set_tracer_provider(tracer_provider)
    chosen = _exporter_choice("OTEL_METRICS_EXPORTER")
    if not meter_set and chosen != "none":
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(_metric_exporter(chosen))
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))

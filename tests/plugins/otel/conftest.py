"""Real OpenTelemetry SDK receivers for the murmur-otel tests: an in-memory span exporter
and an in-memory metric reader, on providers owned by each test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from murmur_otel import OTelEmitter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass
class Telemetry:
    """Providers, their in-memory receivers, and an emitter writing to them."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    emitter: OTelEmitter

    def finished(self) -> list[ReadableSpan]:
        """Every span ended so far (the emitter's batch handed over first)."""
        self.emitter.flush()
        return list(self.spans.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        """The ended spans called `name`."""
        return [s for s in self.finished() if s.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of `metric` collected now (attributes, value or histogram)."""
        self.emitter.flush()
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out

    def metric(self, name: str) -> Any:
        """The collected metric called `name` (its unit, data type, points)."""
        self.emitter.flush()
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == name:
                        return m
        raise AssertionError(f"no metric {name} was recorded")


def make_telemetry(**options: Any) -> Telemetry:
    """Fresh providers with in-memory receivers and an `OTelEmitter` on them."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    emitter = OTelEmitter(
        meter_provider=meter_provider, tracer_provider=tracer_provider, from_env=False, **options
    )
    return Telemetry(tracer_provider, meter_provider, spans, reader, emitter)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """An emitter on providers only this test uses."""
    made = make_telemetry()
    yield made
    made.tracer_provider.shutdown()
    made.meter_provider.shutdown()

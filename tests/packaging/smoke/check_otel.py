"""murmur-otel alone on murmur-core: a run records GenAI metrics and a trace."""

from __future__ import annotations

import asyncio

from _smoke import check, plugins_ok
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

plugins_ok("murmur-otel")
spans = InMemorySpanExporter()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
reader = InMemoryMetricReader()
meter_provider = MeterProvider(metric_readers=[reader])


async def main() -> None:
    from murmur import Agent, AgentRuntime, TaskSpec
    from murmur.plugins import PluginHost

    emitter = PluginHost().resolve_emitter(
        "otel", meter_provider=meter_provider, tracer_provider=tracer_provider
    )
    async with AgentRuntime(event_emitter=emitter) as runtime:
        result = await runtime.run(Agent(name="echo", model="test"), TaskSpec(input="hi"))
    check(result.is_ok(), f"a run: {result.error}")


asyncio.run(main())
data = reader.get_metrics_data()
check(data is not None, "metrics were recorded")
assert data is not None
names = {
    metric.name
    for resource in data.resource_metrics
    for scope in resource.scope_metrics
    for metric in scope.metrics
}
check("gen_ai.client.operation.duration" in names, f"metrics: {sorted(names)}")
check(spans.get_finished_spans(), "a trace of the run")
print(f"murmur-otel: {len(names)} metrics and {len(spans.get_finished_spans())} spans of one run")

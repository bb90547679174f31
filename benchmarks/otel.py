"""murmur-otel's cost per run, as a ratio against no emitter, measured in one run.

    uv run python benchmarks/otel.py [--runs 50] [--blocks 40] [--json]

The same FunctionModel agent (one tool call, then an answer: a run emits 4 events) runs
`runs` times per block, in interleaved blocks (each round runs every side once, in a shuffled
order) so machine noise hits every side alike; each side's per-run cost is its median
block / runs, in CPU time of this process (`time.process_time`, which includes the SDK's
export thread, and is not inflated by other processes on a shared machine the way
wall-clock time is):

- `none`: `NullEventEmitter` (no telemetry);
- `otel`: `OTelEmitter` on real SDK providers (a `BatchSpanProcessor` whose exporter drops
  the batch, a `MeterProvider` with a reader): metrics and traces on;
- `otel_noop`: `OTelEmitter` on the API's no-op providers: murmur's own work (reading the
  event, building attributes) with the SDK doing nothing.

Two figures: the paired ratio (each round's `otel` block over its `none` block, median over
rounds: whole-run cost, GC and the export thread included, but noisy on a shared machine), and
the CPU time spent inside the emitter per run (`time.thread_time` around `emit`: precise, what
telemetry adds on the run's own thread), split into murmur's work (the same emitter on no-op
providers) and the SDK's (the rest).

The garbage collector's time is reported too (`gc.callbacks`): a collection runs inside
whichever call crosses a threshold, so collections of the run's own garbage land in `emit`
as well, and one full collection (tens of ms) moves a short benchmark's figure by tens of us.
`emitter ratio, GC by cause` replaces the collections that ran inside `emit` by the young
collections telemetry adds to the whole run (`otel` side minus `none` side); full ones are
counted per side.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import time
from collections.abc import Sequence
from typing import Any

from _gc import GcClock  # benchmarks/_gc.py: the script's folder is on sys.path
from murmur_otel import OTelEmitter
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NoOpTracerProvider
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, TaskSpec
from murmur.events import EventEmitter, NullEventEmitter, RuntimeEvent


class _Drop(SpanExporter):
    """Accepts every batch and keeps nothing (the export itself is not murmur's cost)."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if len(messages) == 1:
        return ModelResponse(parts=[ToolCallPart("lookup", {"city": "Oslo"})])
    return ModelResponse(parts=[TextPart("sunny")])


AGENT = Agent(name="bench", model=FunctionModel(_reply), tools=("lookup",))


def _runtime(emitter: EventEmitter) -> AgentRuntime:
    runtime = AgentRuntime(event_emitter=emitter)
    runtime.tools.register("lookup", lambda city: f"sunny in {city}", read_only=True)
    return runtime


GC = GcClock()


class _Timed:
    """Wraps an emitter and adds up the CPU time spent inside it (this thread's), and the
    part of it the garbage collector took."""

    def __init__(self, inner: OTelEmitter) -> None:
        self.inner = inner
        self.cpu_s = 0.0
        self.gc_s = 0.0

    async def emit(self, event: RuntimeEvent) -> None:
        self.emit_nowait(event)

    def emit_nowait(self, event: RuntimeEvent) -> None:
        # Synchronous, as the wrapped emitter is: the runtime calls it directly.
        gc_before = GC.cpu_s
        started = time.thread_time()
        self.inner.emit_nowait(event)
        self.cpu_s += time.thread_time() - started
        self.gc_s += GC.cpu_s - gc_before


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


async def measure(runs: int, blocks: int) -> dict[str, Any]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    sdk = _Timed(
        OTelEmitter(tracer_provider=tracer_provider, meter_provider=meter_provider, from_env=False)
    )
    noop = _Timed(
        OTelEmitter(
            tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), from_env=False
        )
    )
    sides = {
        "none": _runtime(NullEventEmitter()),
        "otel": _runtime(sdk),
        "otel_noop": _runtime(noop),
    }
    for runtime in sides.values():  # warm: caches, first-import costs
        for _ in range(20):
            await runtime.run(AGENT, TaskSpec(input="warm"))
    sdk.cpu_s = noop.cpu_s = sdk.gc_s = noop.gc_s = 0.0
    times: dict[str, list[float]] = {name: [] for name in sides}
    young: dict[str, float] = dict.fromkeys(sides, 0.0)
    full: dict[str, list[float]] = {name: [0, 0.0] for name in sides}
    gc.callbacks.append(GC)
    order = list(sides)
    for _ in range(blocks):
        random.shuffle(order)
        for name in order:
            runtime = sides[name]
            gc_before = (GC.cpu_s, GC.full_s, GC.counts[2])
            started = time.process_time()
            for _ in range(runs):
                result = await runtime.run(AGENT, TaskSpec(input="x"))
                assert result.is_ok(), result.error
            times[name].append((time.process_time() - started) / runs)
            full_s = GC.full_s - gc_before[1]
            young[name] += GC.cpu_s - gc_before[0] - full_s
            full[name][0] += GC.counts[2] - gc_before[2]
            full[name][1] += full_s
    gc.callbacks.remove(GC)
    reader.collect()
    tracer_provider.shutdown()
    paired = [o / n for o, n in zip(times["otel"], times["none"], strict=True)]
    q1, ratio, q3 = _quartiles(paired)
    none_us = statistics.median(times["none"]) * 1e6
    emit_us = sdk.cpu_s / (runs * blocks) * 1e6
    murmur_us = noop.cpu_s / (runs * blocks) * 1e6
    emit_gc_us = sdk.gc_s / (runs * blocks) * 1e6
    young_none_us = young["none"] / (runs * blocks) * 1e6
    young_otel_us = young["otel"] / (runs * blocks) * 1e6
    # The emitter's CPU with the collections that ran inside it replaced by the young
    # collections telemetry adds to the whole run (the `otel` side's over the `none`
    # side's). Full collections are left out here and reported per side: one or two per
    # few thousand runs, ~70 ms each, they land on either side at random.
    by_cause_us = emit_us - emit_gc_us + (young_otel_us - young_none_us)
    return {
        "runs_per_block": runs,
        "blocks": blocks,
        "none_us": round(none_us, 1),
        "otel_us": round(statistics.median(times["otel"]) * 1e6, 1),
        "ratio": round(ratio, 3),
        "ratio_iqr": [round(q1, 3), round(q3, 3)],
        "emit_us": round(emit_us, 1),
        "emit_ratio": round(1 + emit_us / none_us, 3),
        "murmur_us": round(murmur_us, 1),
        "sdk_us": round(emit_us - murmur_us, 1),
        "emit_gc_us": round(emit_gc_us, 1),
        "young_gc_none_us": round(young_none_us, 1),
        "young_gc_otel_us": round(young_otel_us, 1),
        "full_gc": {name: [n, round(t * 1e3, 1)] for name, (n, t) in full.items()},
        "emit_by_cause_us": round(by_cause_us, 1),
        "emit_by_cause_ratio": round(1 + by_cause_us / none_us, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="runs per block")
    parser.add_argument("--blocks", type=int, default=40, help="interleaved blocks per side")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = asyncio.run(measure(args.runs, args.blocks))
    if args.json:
        print(json.dumps(result))
        return
    print(f"CPU per run, no emitter:         {result['none_us']:9.1f} us")
    print(f"CPU per run, metrics + traces:   {result['otel_us']:9.1f} us")
    print(f"paired ratio, median (IQR):      {result['ratio']:9.3f}x {result['ratio_iqr']}")
    print(f"CPU inside the emitter per run:  {result['emit_us']:9.1f} us")
    print(f"  of which the SDK:              {result['sdk_us']:9.1f} us")
    print(f"  of which murmur:               {result['murmur_us']:9.1f} us")
    print(f"  of which GC ran inside emit:   {result['emit_gc_us']:9.1f} us")
    young_gc = f"{result['young_gc_none_us']:.1f} / {result['young_gc_otel_us']:.1f}"
    print(f"young GC per run, none / otel:   {young_gc:>9} us")
    full_gc = ", ".join(f"{k} {n} ({ms} ms)" for k, (n, ms) in result["full_gc"].items())
    print(f"full collections in the blocks:  {full_gc}")
    print(f"emitter ratio (target <= 1.05):  {result['emit_ratio']:9.3f}x")
    print(f"emitter ratio, GC by cause:      {result['emit_by_cause_ratio']:9.3f}x")


if __name__ == "__main__":
    main()

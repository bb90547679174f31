"""murmur-otel's cost per run, as a ratio against no emitter, measured in one run.

    uv run python benchmarks/otel.py [--runs 50] [--blocks 40] [--json]

The same FunctionModel agent (one tool call, then an answer: a run emits 4 events) runs
`runs` times per block, in interleaved blocks (each round runs every side once, in a shuffled
order) so machine noise hits every side alike; each side's per-run cost is its median
block / runs, in CPU time of this process (`time.process_time`: every thread, so the SDK's
export thread and murmur-otel's batch thread are in it, and other processes on a shared
machine do not inflate it the way they inflate wall-clock time):

- `none`: `NullEventEmitter` (no telemetry; the kernel then builds no events at all);
- `events`: an emitter that takes every event and does nothing with it: the kernel's cost
  of building the events any emitter gets (not murmur-otel's);
- `otel`: `OTelEmitter` on real SDK providers (a `BatchSpanProcessor` whose exporter drops
  the batch, a `MeterProvider` with a reader): metrics and traces on;
- `otel_inline`: the same with `batch=False`: every event handed to the SDK inside the run,
  as before murmur-otel batched them;
- `otel_noop`: `OTelEmitter` on the API's no-op providers: murmur's own work (reading the
  event, building attributes) with the SDK doing nothing.

Every block ends by handing murmur-otel's batch to the SDK (`flush()`) inside its timed
window, so each block pays for all of its own events and no other block's.

Figures: the paired ratio (each round's `otel` block over its `none` block, median over
rounds: whole-run cost, every thread, GC included), the same with the full collections left
out of every block (one full collection is tens of ms and lands in a block at random), and
the CPU per run of handing the events to the SDK (`BATCH.cpu_s`, in the batch thread or the
flush), split into murmur's work (the same emitter on no-op providers) and the SDK's (the
rest). Queueing the events on the run's thread is in the paired ratio only (a timer around
each `emit` would cost about as much as it measures).

`--pairs N` (default 1,500) adds the figure the machine's drift moves least: single runs in
pairs, each side's CPU on the run's own thread (the paired ratio of adjacent runs, median
over pairs), plus the CPU the batch's drain thread spent per run handing the events to the
SDK, over the no-emitter run (`paired_runs`).
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
from murmur_otel._batch import BATCH
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


class _Ignore:
    """Takes every event and does nothing (unlike `NullEventEmitter`, events are built)."""

    async def emit(self, event: RuntimeEvent) -> None:
        return None

    def emit_nowait(self, event: RuntimeEvent) -> None:
        return None


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = statistics.quantiles(values, n=4)
    return q1, q2, q3


async def measure(runs: int, blocks: int) -> dict[str, Any]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    sdk = OTelEmitter(
        tracer_provider=tracer_provider, meter_provider=meter_provider, from_env=False
    )
    inline = OTelEmitter(
        tracer_provider=tracer_provider, meter_provider=meter_provider, from_env=False, batch=False
    )
    noop = OTelEmitter(
        tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider(), from_env=False
    )
    sides = {
        "none": _runtime(NullEventEmitter()),
        "events": _runtime(_Ignore()),
        "otel": _runtime(sdk),
        "otel_inline": _runtime(inline),
        "otel_noop": _runtime(noop),
    }
    for runtime in sides.values():  # warm: caches, first-import costs
        for _ in range(20):
            await runtime.run(AGENT, TaskSpec(input="warm"))
    BATCH.flush()
    handlers_s: dict[str, float] = dict.fromkeys(sides, 0.0)
    times: dict[str, list[float]] = {name: [] for name in sides}
    no_full: dict[str, list[float]] = {name: [] for name in sides}
    young: dict[str, float] = dict.fromkeys(sides, 0.0)
    full: dict[str, list[float]] = {name: [0, 0.0] for name in sides}
    gc.callbacks.append(GC)
    order = list(sides)
    for _ in range(blocks):
        random.shuffle(order)
        for name in order:
            runtime = sides[name]
            gc_before = (GC.cpu_s, GC.full_s, GC.counts[2])
            batch_before = BATCH.cpu_s
            started = time.process_time()
            for _ in range(runs):
                result = await runtime.run(AGENT, TaskSpec(input="x"))
                assert result.is_ok(), result.error
            BATCH.flush()  # this block's events reach the SDK inside its window
            spent = time.process_time() - started
            handlers_s[name] += BATCH.cpu_s - batch_before
            full_s = GC.full_s - gc_before[1]
            times[name].append(spent / runs)
            no_full[name].append((spent - full_s) / runs)
            young[name] += GC.cpu_s - gc_before[0] - full_s
            full[name][0] += GC.counts[2] - gc_before[2]
            full[name][1] += full_s
    gc.callbacks.remove(GC)
    reader.collect()
    tracer_provider.shutdown()
    total = runs * blocks
    paired = [o / n for o, n in zip(times["otel"], times["none"], strict=True)]
    q1, ratio, q3 = _quartiles(paired)
    paired_no_full = [o / n for o, n in zip(no_full["otel"], no_full["none"], strict=True)]
    f1, ratio_no_full, f3 = _quartiles(paired_no_full)
    none_us = statistics.median(times["none"]) * 1e6
    events = [e / n for e, n in zip(times["events"], times["none"], strict=True)]
    inline_paired = [i / n for i, n in zip(times["otel_inline"], times["none"], strict=True)]
    noop_paired = [m / n for m, n in zip(times["otel_noop"], times["none"], strict=True)]
    over_events = [o / e for o, e in zip(times["otel"], times["events"], strict=True)]
    emit_us = handlers_s["otel"] / total * 1e6
    murmur_us = handlers_s["otel_noop"] / total * 1e6
    return {
        "runs_per_block": runs,
        "blocks": blocks,
        "none_us": round(none_us, 1),
        "otel_us": round(statistics.median(times["otel"]) * 1e6, 1),
        "ratio": round(ratio, 3),
        "ratio_iqr": [round(q1, 3), round(q3, 3)],
        "ratio_no_full_gc": round(ratio_no_full, 3),
        "ratio_no_full_gc_iqr": [round(f1, 3), round(f3, 3)],
        "events_ratio": round(statistics.median(events), 3),
        "inline_ratio": round(statistics.median(inline_paired), 3),
        "noop_ratio": round(statistics.median(noop_paired), 3),
        "otel_over_events_ratio": round(statistics.median(over_events), 3),
        "emit_us": round(emit_us, 1),
        "emit_ratio": round(1 + emit_us / none_us, 3),
        "murmur_us": round(murmur_us, 1),
        "sdk_us": round(emit_us - murmur_us, 1),
        "young_gc_none_us": round(young["none"] / total * 1e6, 1),
        "young_gc_otel_us": round(young["otel"] / total * 1e6, 1),
        "full_gc": {name: [n, round(t * 1e3, 1)] for name, (n, t) in full.items()},
    }


async def paired_runs(pairs: int) -> dict[str, Any]:
    """Single runs in pairs (no emitter, `OTelEmitter`; the order alternates), thread CPU.

    The VM's speed drifts by tens of percent over seconds, which puts the blocks above an
    interquartile range of 0.93-1.34 apart; adjacent single runs see the same machine. A
    batched run's cost is in two threads: the run's own (events built and queued: the
    paired ratio) and the drain thread handing the batch to the SDK (`BATCH.cpu_s`, its
    thread CPU, collections included, divided by the runs). The figure is their sum over
    the no-emitter run. Not counted: the span processor's export thread (its exporter here
    drops each batch).
    """
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    none = _runtime(NullEventEmitter())
    otel = _runtime(
        OTelEmitter(tracer_provider=tracer_provider, meter_provider=meter_provider, from_env=False)
    )
    for runtime in (none, otel):
        for _ in range(20):
            await runtime.run(AGENT, TaskSpec(input="warm"))
    BATCH.flush()

    async def one(runtime: AgentRuntime) -> float:
        started = time.thread_time()
        result = await runtime.run(AGENT, TaskSpec(input="x"))
        spent = time.thread_time() - started
        if not result.is_ok():
            raise SystemExit(f"NOT A RESULT: a run failed: {result.error}")
        return spent

    ratios, none_s, otel_s = [], [], []
    drained = BATCH.cpu_s
    for pair in range(pairs):
        if pair % 2:
            n, o = await one(none), await one(otel)
        else:
            o, n = await one(otel), await one(none)
        ratios.append(o / n)
        none_s.append(n)
        otel_s.append(o)
    BATCH.flush()
    drain_s = (BATCH.cpu_s - drained) / pairs
    tracer_provider.shutdown()
    q1, run_ratio, q3 = _quartiles(ratios)
    none_median = statistics.median(none_s)
    return {
        "pairs": pairs,
        "none_us": round(none_median * 1e6, 1),
        "otel_run_thread_us": round(statistics.median(otel_s) * 1e6, 1),
        "run_thread_ratio": round(run_ratio, 4),
        "run_thread_iqr": [round(q1, 3), round(q3, 3)],
        "drain_us": round(drain_s * 1e6, 1),
        "ratio": round(run_ratio + drain_s / none_median, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="runs per block")
    parser.add_argument("--blocks", type=int, default=40, help="interleaved blocks per side")
    parser.add_argument("--pairs", type=int, default=1500, help="single-run pairs (0: none)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    result = asyncio.run(measure(args.runs, args.blocks))
    if args.pairs:
        result["paired"] = asyncio.run(paired_runs(args.pairs))
    if args.json:
        print(json.dumps(result))
        return
    print(f"CPU per run, no emitter:         {result['none_us']:9.1f} us")
    print(f"CPU per run, metrics + traces:   {result['otel_us']:9.1f} us")
    print(f"paired ratio (target <= 1.05):   {result['ratio']:9.3f}x {result['ratio_iqr']} (IQR)")
    no_full = f"{result['ratio_no_full_gc']:9.3f}x {result['ratio_no_full_gc_iqr']}"
    print(f"  without full collections:      {no_full}")
    print(f"  the kernel's events alone:     {result['events_ratio']:9.3f}x")
    print(f"  murmur's part (no-op SDK):     {result['noop_ratio']:9.3f}x")
    print(f"  unbatched (batch=False):       {result['inline_ratio']:9.3f}x")
    print(f"  otel over the events alone:    {result['otel_over_events_ratio']:9.3f}x")
    print(f"handing events to the SDK, CPU:  {result['emit_us']:9.1f} us per run")
    print(f"  of which the SDK:              {result['sdk_us']:9.1f} us")
    print(f"  of which murmur:               {result['murmur_us']:9.1f} us")
    young_gc = f"{result['young_gc_none_us']:.1f} / {result['young_gc_otel_us']:.1f}"
    print(f"young GC per run, none / otel:   {young_gc:>9} us")
    full_gc = ", ".join(f"{k} {n} ({ms} ms)" for k, (n, ms) in result["full_gc"].items())
    print(f"full collections in the blocks:  {full_gc}")
    print(f"1 + handing over / run:          {result['emit_ratio']:9.3f}x")
    paired = result.get("paired")
    if paired:
        iqr = paired["run_thread_iqr"]
        print(f"single-run pairs ({paired['pairs']}), thread CPU:")
        print(f"  the run's thread, otel / none: {paired['run_thread_ratio']:9.3f}x {iqr} (IQR)")
        print(f"  the batch's drain per run:     {paired['drain_us']:9.1f} us")
        print(f"  run's thread + drain:          {paired['ratio']:9.3f}x (target <= 1.05)")


if __name__ == "__main__":
    main()

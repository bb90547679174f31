"""murmur's share of a run in instructions executed: deterministic, whatever the machine's noise.

    uv run python benchmarks/instructions.py [--runs 100]     (needs valgrind)

Each side runs in its own interpreter under `valgrind --tool=callgrind` twice, with 0 and with
`--runs` measured runs after the same warm-up; the difference divided by `--runs` is the
instructions one run executes (every thread: the FunctionModel's worker thread and the span
processor's included), after a full collection. `PYTHONHASHSEED=0` takes hash
randomization out of the count.
The garbage collector's work is counted where it falls: a collection more or less inside the
measured runs moves a side by up to 2 points (see `benchmarks/README.md`). About 30 minutes
on 2 cores (14 interpreters under valgrind, two at a time). Instructions are not time (a
cache miss or a system call costs more than its instructions), so this complements the
CPU-time ratios of `kernel.py` and `otel.py`, whose figures drift between hours and machines
by more than murmur's share:

- per run (kernel.py's agent): a raw `pydantic_ai.Agent.run`, murmur with
  `NullEventEmitter`, murmur with the default settings (`AgentRuntime()`: console lines);
- OTel (otel.py's agent, a tool call): `NullEventEmitter` (no events built), an emitter
  that drops every event (the cost of building events), `OTelEmitter` on the API's no-op
  providers (murmur's emitter code), `OTelEmitter` on SDK providers (the SDK's work).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SIDES = {
    "raw": "kernel",
    "null": "kernel",
    "log": "kernel",
    "none": "otel",
    "events": "otel",
    "otel_noop": "otel",
    "otel": "otel",
}


async def _side(side: str, runs: int) -> None:
    """The workload of one side: a warm-up, then `runs` runs (in this interpreter)."""
    from murmur import AgentRuntime, TaskSpec
    from murmur.events import LogEventEmitter, NullEventEmitter

    if SIDES[side] == "kernel":
        from kernel import MODEL
        from pydantic_ai import Agent as PAAgent

        from murmur import Agent

        raw = PAAgent(MODEL)
        runtime = AgentRuntime(
            event_emitter=LogEventEmitter() if side == "log" else NullEventEmitter()
        )
        agent = Agent(name="bench", model=MODEL)
        for _ in range(30):
            await raw.run("warm")
            await runtime.run(agent, "warm")
        gc.collect()  # the measured runs start from the same collector state on every side
        if side == "raw":
            for _ in range(runs):
                await raw.run("x")
            return
    else:
        from otel import AGENT, _Drop, _runtime

        emitter: Any = NullEventEmitter()
        if side == "events":

            class _Dropped:
                async def emit(self, event: Any) -> None: ...

                def emit_nowait(self, event: Any) -> None: ...

            emitter = _Dropped()
        elif side.startswith("otel"):
            from murmur_otel import OTelEmitter
            from opentelemetry.metrics import NoOpMeterProvider
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace import NoOpTracerProvider

            if side == "otel":
                tracer_provider: Any = TracerProvider()
                tracer_provider.add_span_processor(BatchSpanProcessor(_Drop()))
                meter_provider: Any = MeterProvider(metric_readers=[InMemoryMetricReader()])
            else:
                tracer_provider, meter_provider = NoOpTracerProvider(), NoOpMeterProvider()
            emitter = OTelEmitter(
                tracer_provider=tracer_provider, meter_provider=meter_provider, from_env=False
            )
        runtime = _runtime(emitter)
        agent = AGENT
        for _ in range(30):
            await runtime.run(agent, "warm")
        gc.collect()
    for _ in range(runs):
        result = await runtime.run(agent, TaskSpec(input="x"))
        if not result.is_ok():
            raise SystemExit(f"NOT A RESULT: a run failed: {result.error}")


def _count(side: str, runs: int) -> int:
    """Instructions of a whole interpreter running `side` with `runs` measured runs."""
    out = Path(tempfile.gettempdir()) / f"murmur-callgrind-{os.getpid()}-{side}-{runs}.out"
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
         sys.executable, __file__, "--side", side, "--runs", str(runs)],
        env={**os.environ, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )  # fmt: skip
    out.unlink(missing_ok=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind failed on {side}: {done.stderr[-2000:]}")
    return int(found.group(1))


def measure(runs: int, jobs: int) -> dict[str, Any]:
    """Instructions per run of every side, and the ratios."""
    pairs = [(side, n) for side in SIDES for n in (0, runs)]
    with ThreadPoolExecutor(jobs) as pool:
        counts = dict(zip(pairs, pool.map(lambda p: _count(*p), pairs), strict=True))
    per_run = {side: (counts[(side, runs)] - counts[(side, 0)]) / runs for side in SIDES}

    def ratio(side: str, base: str) -> float:
        return round(per_run[side] / per_run[base], 4)

    return {
        "runs": runs,
        "instructions_per_run": {side: round(n) for side, n in per_run.items()},
        "per_run_null_ratio": ratio("null", "raw"),
        "per_run_default_ratio": ratio("log", "raw"),
        "otel_ratio": ratio("otel", "none"),
        "otel_events_share": round(ratio("events", "none") - 1, 4),
        "otel_emitter_share": round(
            (per_run["otel_noop"] - per_run["events"]) / per_run["none"], 4
        ),
        "otel_sdk_share": round((per_run["otel"] - per_run["otel_noop"]) / per_run["none"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="measured runs per side")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="valgrinds at once")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        sys.path.insert(0, str(HERE))
        asyncio.run(_side(args.side, args.runs))
        return
    print(json.dumps(measure(args.runs, args.jobs), indent=2))


if __name__ == "__main__":
    main()

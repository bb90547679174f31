"""Kernel overhead benchmarks, reported as ratios against a baseline in the same run.

    uv run python benchmarks/kernel.py [--pairs 1000] [--trials 7] [--tasks 1000] [--json]

1. per-run overhead: `runtime.run` vs a raw `pydantic_ai.Agent.run` on the same no-work
   FunctionModel, in pairs of single runs (raw then murmur, murmur then raw, alternating), each
   pair giving one ratio, in CPU time of the thread; a trial's figure is the median of its
   `--pairs` ratios, and each of the `--trials` trials runs in a fresh interpreter (a
   process's memory layout moves a trial by up to a point, so one process is one sample, as
   an independent harness run several times would see). Reported for the default settings,
   `AgentRuntime()` (its `LogEventEmitter` writes two lines per run to the process's stderr,
   /dev/null here), with `NullEventEmitter` (a runtime whose events go nowhere, or only
   to a store or OTel, which have their own benchmarks), and with the default emitter
   composed through `MultiEventEmitter` with a synchronous emitter (`multi`) and with an
   asynchronous one (`relay`: what a worker's event relay or a store's recorder adds);
2. gather throughput: `runtime.gather(max_concurrency=50)` vs the pattern users hand-write,
   `asyncio.gather` + `asyncio.Semaphore` around raw PydanticAI runs, with what the cyclic
   garbage collector took on each side (its share of the CPU time, full collections per
   gather) and the ratio with collections left out;
3. memory per in-flight task: tracemalloc peak with N runs parked inside the model, murmur vs
   raw;
4. start-up: `import murmur` vs `import pydantic` (its floor), and `murmur --help`, in fresh
   interpreters;
5. where murmur's share of a run goes: a cProfile of murmur runs, own time grouped by the
   module it is spent in (events, ids, middleware, runtime and context, logging, plugin host),
   beside the whole run.

Every other figure is the median of `--reps` interleaved repetitions of blocks with its spread
(min-max and the interquartile range), on CPU time of the benchmark's thread (what the run
costs, undisturbed by other processes on a shared machine) and on wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from _gc import GcClock  # benchmarks/_gc.py: the script's folder is on sys.path
from pydantic_ai import Agent as PAAgent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, RuntimeEvent, TaskSpec
from murmur.events import LogEventEmitter, MultiEventEmitter, NullEventEmitter


def _reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("ok")])


MODEL = FunctionModel(_reply)


def spread(values: list[float]) -> dict[str, float]:
    """Median, min, max and interquartile range of `values`."""
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4) if len(ordered) > 1 else [ordered[0]] * 3
    return {
        "median": statistics.median(ordered),
        "min": ordered[0],
        "max": ordered[-1],
        "q1": quartiles[0],
        "q3": quartiles[2],
    }


async def _timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(CPU seconds of this thread, wall seconds) of one call, after a full collection.

    Collecting first keeps one block's garbage from being collected on the next block's time.
    """
    gc.collect()
    cpu, wall = time.thread_time(), time.perf_counter()
    await fn()
    return time.thread_time() - cpu, time.perf_counter() - wall


async def paired(
    baseline: Callable[[], Awaitable[Any]], candidate: Callable[[], Awaitable[Any]], reps: int
) -> dict[str, Any]:
    """Interleaved (baseline, candidate) pairs; per-pair ratios candidate / baseline."""
    base_cpu, cand_cpu, cpu_ratios, wall_ratios = [], [], [], []
    for rep in range(reps):
        order = (baseline, candidate) if rep % 2 == 0 else (candidate, baseline)
        timings = {fn: await _timed(fn) for fn in order}
        (b_cpu, b_wall), (c_cpu, c_wall) = timings[baseline], timings[candidate]
        base_cpu.append(b_cpu)
        cand_cpu.append(c_cpu)
        cpu_ratios.append(c_cpu / b_cpu)
        wall_ratios.append(c_wall / b_wall)
    return {
        "baseline_cpu_s": statistics.median(base_cpu),
        "candidate_cpu_s": statistics.median(cand_cpu),
        "cpu_ratio": spread(cpu_ratios),
        "wall_ratio": spread(wall_ratios),
    }


async def per_run_trial(runs: int, emitter: Any) -> dict[str, float]:
    """One trial: `runs` pairs of single runs (raw, murmur; the order alternates).

    Pairing single runs keeps the machine's drift out of each ratio; the trial's figure is
    the median of its pairs' ratios.
    """
    raw = PAAgent(MODEL)
    runtime = AgentRuntime(event_emitter=emitter)
    agent = Agent(name="bench", model=MODEL)
    for _ in range(20):
        await runtime.run(agent, "warm")
        await raw.run("warm")

    async def murmur_run() -> float:
        started = time.thread_time()
        result = await runtime.run(agent, TaskSpec(input="x"))
        spent = time.thread_time() - started
        if not result.is_ok():
            raise SystemExit(f"NOT A RESULT: a run failed: {result.error}")
        return spent

    async def raw_run() -> float:
        started = time.thread_time()
        await raw.run("x")
        return time.thread_time() - started

    ratios, raw_t, mur_t = [], [], []
    for pair in range(runs):
        if pair % 2:
            r, m = await raw_run(), await murmur_run()
        else:
            m, r = await murmur_run(), await raw_run()
        ratios.append(m / r)
        raw_t.append(r)
        mur_t.append(m)
    return {
        "ratio": statistics.median(ratios),
        "raw_us": statistics.median(raw_t) * 1e6,
        "murmur_us": statistics.median(mur_t) * 1e6,
    }


class _Counting:
    """A user's synchronous emitter: counts the events it is given built."""

    def __init__(self) -> None:
        self.seen = 0

    async def emit(self, event: RuntimeEvent) -> None:
        self.emit_nowait(event)

    def emit_nowait(self, event: RuntimeEvent) -> None:
        self.seen += 1


class _Relayed:
    """An asynchronous emitter, as a worker's event relay or a store's recorder is."""

    def __init__(self) -> None:
        self.seen = 0

    async def emit(self, event: RuntimeEvent) -> None:
        self.seen += 1


_EMITTERS: dict[str, Callable[[], Any]] = {
    "null": NullEventEmitter,
    "log": LogEventEmitter,
    # The default console line composed with a user's synchronous emitter, and with an
    # asynchronous one (a worker's relay, a store): `MultiEventEmitter`'s own cost.
    "multi": lambda: MultiEventEmitter([LogEventEmitter(), _Counting()]),
    "relay": lambda: MultiEventEmitter([LogEventEmitter(), _Relayed()]),
}


def per_run_overhead(runs: int, trials: int, emitter: str) -> dict[str, Any]:
    """`trials` trials, each in a fresh interpreter (see `per_run_trial`).

    A process's memory layout moves a trial's figure by up to a point; fresh processes
    sample it, as an independent harness run several times would.
    """
    found = []
    for _ in range(trials):
        done = subprocess.run(
            [sys.executable, __file__, "--trial", emitter, "--pairs", str(runs)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the default emitter's lines: written, then dropped
            text=True,
            check=True,
        )
        found.append(json.loads(done.stdout))
    return {
        "cpu_ratio": spread([t["ratio"] for t in found]),
        "raw_us_per_run": statistics.median(t["raw_us"] for t in found),
        "murmur_us_per_run": statistics.median(t["murmur_us"] for t in found),
    }


async def gather_trial(tasks: int, concurrency: int, reps: int, emitter: Any) -> dict[str, Any]:
    """One gather trial: `reps` interleaved pairs of whole gathers, raw and murmur.

    Besides the throughput ratio, what the cyclic garbage collector took on each side: its
    share of the gather's CPU time and the full collections per gather (each one walks the
    whole heap, tens of ms with PydanticAI imported), and the ratio with GC time left out.
    """
    raw = PAAgent(MODEL)
    runtime = AgentRuntime(event_emitter=emitter)
    agent = Agent(name="bench", model=MODEL)
    clock = GcClock()
    spent: dict[str, list[tuple[float, float, int]]] = {"raw": [], "murmur": []}

    def gc_counted(name: str, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def counted() -> None:
            cpu, gc_cpu, full = time.thread_time(), clock.cpu_s, clock.counts[2]
            await fn()
            cpu = time.thread_time() - cpu
            spent[name].append((cpu, clock.cpu_s - gc_cpu, clock.counts[2] - full))

        return counted

    async def murmur_gather() -> None:
        results = await runtime.gather(
            agent, [TaskSpec(input="x") for _ in range(tasks)], max_concurrency=concurrency
        )
        failed = sum(not result.is_ok() for result in results)
        if failed:
            raise SystemExit(f"NOT A RESULT: {failed} runs of a gather failed")

    async def raw_gather() -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> Any:
            async with sem:
                return await raw.run("x")

        await asyncio.gather(*(one() for _ in range(tasks)))

    await murmur_gather()
    await raw_gather()
    gc.callbacks.append(clock)
    try:
        found = await paired(
            gc_counted("raw", raw_gather), gc_counted("murmur", murmur_gather), reps
        )
    finally:
        gc.callbacks.remove(clock)
    # Throughput is the inverse of time: murmur / raw tasks per second.
    for key in ("cpu_ratio", "wall_ratio"):
        inverse = {k: 1 / v for k, v in found[key].items()}
        inverse["min"], inverse["max"] = inverse["max"], inverse["min"]
        inverse["q1"], inverse["q3"] = inverse["q3"], inverse["q1"]
        found[key.replace("ratio", "throughput_ratio")] = inverse
        del found[key]
    found["raw_tasks_per_cpu_s"] = tasks / found.pop("baseline_cpu_s")
    found["murmur_tasks_per_cpu_s"] = tasks / found.pop("candidate_cpu_s")
    for name, rows in spent.items():
        found[f"{name}_gc_share"] = sum(g for _, g, _ in rows) / sum(c for c, _, _ in rows)
        found[f"{name}_full_collections"] = statistics.mean(n for _, _, n in rows)
    found["gc_free_throughput_ratio"] = sum(c - g for c, g, _ in spent["raw"]) / sum(
        c - g for c, g, _ in spent["murmur"]
    )
    return found


def gather_throughput(tasks: int, trials: int, reps: int, emitter: str) -> dict[str, Any]:
    """`trials` gather trials, each in a fresh interpreter; a trial's figure is its median."""
    found = []
    for _ in range(trials):
        argv = [sys.executable, __file__, "--trial", f"gather-{emitter}", "--tasks", str(tasks)]
        done = subprocess.run(
            [*argv, "--reps", str(reps)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            check=True,
        )
        found.append(json.loads(done.stdout))
    return {
        "cpu_throughput_ratio": spread([t["cpu_throughput_ratio"]["median"] for t in found]),
        "wall_throughput_ratio": spread([t["wall_throughput_ratio"]["median"] for t in found]),
        "raw_tasks_per_cpu_s": statistics.median(t["raw_tasks_per_cpu_s"] for t in found),
        "murmur_tasks_per_cpu_s": statistics.median(t["murmur_tasks_per_cpu_s"] for t in found),
        "gc_free_throughput_ratio": spread([t["gc_free_throughput_ratio"] for t in found]),
        "raw_gc_share": statistics.median(t["raw_gc_share"] for t in found),
        "murmur_gc_share": statistics.median(t["murmur_gc_share"] for t in found),
        "raw_full_collections_per_gather": statistics.mean(
            t["raw_full_collections"] for t in found
        ),
        "murmur_full_collections_per_gather": statistics.mean(
            t["murmur_full_collections"] for t in found
        ),
    }


async def memory_per_task(in_flight: int, reps: int) -> dict[str, Any]:
    release = asyncio.Event()
    all_parked = asyncio.Event()
    parked_count = [0]

    async def parked(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        parked_count[0] += 1
        if parked_count[0] == in_flight:
            all_parked.set()
        await release.wait()
        return ModelResponse(parts=[TextPart("ok")])

    model = FunctionModel(parked)

    async def measure(start: Callable[[], list[asyncio.Task[Any]]]) -> float:
        release.clear()
        all_parked.clear()
        parked_count[0] = 0
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        running = start()
        await all_parked.wait()  # every run is inside the model
        peak = tracemalloc.get_traced_memory()[0] - base
        release.set()
        await asyncio.gather(*running)
        tracemalloc.stop()
        return peak / in_flight

    raw = PAAgent(model)
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    agent = Agent(name="bench", model=model)
    release.set()
    await raw.run("warm")
    await runtime.run(agent, "warm")

    raw_b, mur_b, ratios = [], [], []
    for _ in range(reps):
        r = await measure(lambda: [asyncio.create_task(raw.run("x")) for _ in range(in_flight)])
        m = await measure(
            lambda: [asyncio.create_task(runtime.run(agent, "x")) for _ in range(in_flight)]
        )
        raw_b.append(r)
        mur_b.append(m)
        ratios.append(m / r)
    return {
        "raw_kib": statistics.median(raw_b) / 1024,
        "murmur_kib": statistics.median(mur_b) / 1024,
        "ratio": spread(ratios),
    }


def startup(repeats: int) -> dict[str, Any]:
    def times(argv: list[str]) -> list[float]:
        found = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True)
            found.append((time.perf_counter() - started) * 1000)
        return found

    bare = times([sys.executable, "-c", "pass"])
    pyd = times([sys.executable, "-c", "import pydantic; from pydantic import BaseModel"])
    api = times([sys.executable, "-c", "from murmur import Agent, AgentRuntime, TaskSpec"])
    helped = times([sys.executable, "-m", "murmur.cli", "--help"])
    return {
        "bare_interpreter_ms": spread(bare),
        "import_pydantic_ms": spread(pyd),
        "from_murmur_import_api_ms": spread(api),
        "api_import_ratio_vs_pydantic": statistics.median(api) / statistics.median(pyd),
        "murmur_help_ms": spread(helped),
        "help_minus_interpreter_ms": statistics.median(helped) - statistics.median(bare),
    }


_CATEGORIES = (
    ("murmur/events", "events"),
    ("murmur/core/ids", "ids"),
    ("uuid", "ids"),
    ("murmur/middleware", "middleware"),
    ("murmur/plugins", "plugin host"),
    ("pluggy", "plugin host"),
    ("structlog", "logging"),
    ("logging", "logging"),
    ("murmur/backends", "backend (murmur's side)"),
    ("murmur/", "runtime and context"),
    ("pydantic_ai", "pydantic-ai"),
    ("pydantic_graph", "pydantic-ai"),
    ("pydantic", "pydantic (validation)"),
    ("asyncio", "asyncio"),
    ("anyio", "asyncio"),
)


def _category(filename: str) -> str:
    for needle, name in _CATEGORIES:
        if needle in filename:
            return name
    return "other"


async def profile(runs: int) -> dict[str, Any]:
    """Own time per category over `runs` murmur runs and the same number of raw runs."""
    raw = PAAgent(MODEL)
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    agent = Agent(name="bench", model=MODEL)
    await runtime.run(agent, "warm")
    await raw.run("warm")

    async def collect(fn: Callable[[], Awaitable[Any]]) -> dict[str, float]:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(runs):
            await fn()
        profiler.disable()
        stats = pstats.Stats(profiler, stream=io.StringIO())
        by: dict[str, float] = {}
        entries: dict[tuple[str, int, str], tuple[Any, ...]] = vars(stats)["stats"]
        for (filename, _, _), (_, _, own, _, _) in entries.items():
            key = _category(filename)
            by[key] = by.get(key, 0.0) + own / runs * 1e6
        return by

    raw_us = await collect(lambda: raw.run("x"))
    murmur_us = await collect(lambda: runtime.run(agent, TaskSpec(input="x")))
    return {
        "raw_total_us": sum(raw_us.values()),
        "murmur_total_us": sum(murmur_us.values()),
        "murmur_us_by_category": dict(sorted(murmur_us.items(), key=lambda kv: -kv[1])),
    }


def _print(name: str, values: dict[str, Any], indent: str = "  ") -> None:
    print(f"{indent[:-2]}{name}")
    for key, value in values.items():
        if isinstance(value, dict) and {"median", "min", "max"} <= value.keys():
            print(
                f"{indent}{key:34s} {value['median']:10.3f}  "
                f"(min {value['min']:.3f}, max {value['max']:.3f}, "
                f"IQR {value['q1']:.3f}-{value['q3']:.3f})"
            )
        elif isinstance(value, dict):
            _print(key, value, indent + "  ")
        else:
            print(f"{indent}{key:34s} {value:10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1000, help="run pairs per trial")
    parser.add_argument("--runs", type=int, default=50, help="runs per profiled block")
    parser.add_argument("--reps", type=int, default=41, help="interleaved repetitions")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per gather")
    parser.add_argument("--gather-reps", type=int, default=5, help="gather pairs per trial")
    parser.add_argument("--in-flight", type=int, default=500)
    parser.add_argument("--startup-repeats", type=int, default=7)
    parser.add_argument("--trials", type=int, default=7, help="per-run trials (processes)")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    trials = [*_EMITTERS, *(f"gather-{name}" for name in _EMITTERS)]
    parser.add_argument("--trial", choices=trials, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:  # one trial, in this fresh interpreter (its stderr is /dev/null)
        kind, _, name = args.trial.rpartition("-")
        emitter = _EMITTERS[name]()
        if kind == "gather":
            trial = asyncio.run(gather_trial(args.tasks, 50, args.reps, emitter))
        else:
            trial = asyncio.run(per_run_trial(args.pairs, emitter))
        print(json.dumps(trial))
        return
    with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
        results = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(results))
        return
    for name, values in results.items():
        _print(name, values)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every benchmark, in order."""
    return {
        "per_run_overhead, default LogEventEmitter to /dev/null (target <= 1.05)": (
            per_run_overhead(args.pairs, args.trials, "log")
        ),
        "per_run_overhead, NullEventEmitter (target <= 1.05)": per_run_overhead(
            args.pairs, args.trials, "null"
        ),
        "per_run_overhead, MultiEventEmitter([LogEventEmitter(), a synchronous emitter])": (
            per_run_overhead(args.pairs, args.trials, "multi")
        ),
        "per_run_overhead, MultiEventEmitter([LogEventEmitter(), an asynchronous emitter])": (
            per_run_overhead(args.pairs, args.trials, "relay")
        ),
        "gather_throughput, NullEventEmitter (target median >= 1.05)": gather_throughput(
            args.tasks, args.trials, args.gather_reps, "null"
        ),
        "gather_throughput, default LogEventEmitter to /dev/null": gather_throughput(
            args.tasks, args.trials, args.gather_reps, "log"
        ),
        "memory_per_in_flight_task (target ratio median <= 1.10)": await memory_per_task(
            args.in_flight, max(3, args.reps // 3)
        ),
        "where a murmur run's time goes (cProfile, us per run)": await profile(args.runs * 3),
        "startup": startup(args.startup_repeats),
    }


if __name__ == "__main__":
    main()

"""Kernel overhead benchmarks, reported as ratios against a baseline in the same run.

    uv run python benchmarks/kernel.py [--runs 300] [--blocks 5]

1. per-run overhead: `runtime.run` vs a raw `pydantic_ai.Agent.run` on the same FunctionModel,
   in interleaved blocks (A B A B ...) so machine noise hits both sides alike;
2. gather throughput: `runtime.gather(max_concurrency=50)` vs `asyncio.gather` + a semaphore
   around raw PydanticAI runs;
3. memory per in-flight task: tracemalloc peak with N runs parked inside the model, murmur vs raw;
4. start-up: `import murmur` vs `import pydantic` (its floor), and `murmur --help`, in fresh
   interpreters (median of several).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_ai import Agent as PAAgent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, TaskSpec
from murmur.events import NullEventEmitter


def _reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("ok")])


MODEL = FunctionModel(_reply)


async def _time(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


async def per_run_overhead(runs: int, blocks: int) -> dict[str, float]:
    raw = PAAgent(MODEL)
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    agent = Agent(name="bench", model=MODEL)
    await runtime.run(agent, "warm")
    await raw.run("warm")

    async def murmur_block() -> None:
        for _ in range(runs):
            await runtime.run(agent, TaskSpec(input="x"))

    async def raw_block() -> None:
        for _ in range(runs):
            await raw.run("x")

    m_times, r_times = [], []
    for _ in range(blocks):
        r_times.append(await _time(raw_block))
        m_times.append(await _time(murmur_block))
    m, r = statistics.median(m_times) / runs, statistics.median(r_times) / runs
    return {"raw_us": r * 1e6, "murmur_us": m * 1e6, "ratio": m / r}


async def gather_throughput(tasks: int, concurrency: int, blocks: int) -> dict[str, float]:
    raw = PAAgent(MODEL)
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    agent = Agent(name="bench", model=MODEL)

    async def murmur_gather() -> None:
        await runtime.gather(agent, [TaskSpec(input="x") for _ in range(tasks)],
                             max_concurrency=concurrency)  # fmt: skip

    async def raw_gather() -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> Any:
            async with sem:
                return await raw.run("x")

        await asyncio.gather(*(one() for _ in range(tasks)))

    await murmur_gather()
    m_times, r_times = [], []
    for _ in range(blocks):
        r_times.append(await _time(raw_gather))
        m_times.append(await _time(murmur_gather))
    m_tps = tasks / statistics.median(m_times)
    r_tps = tasks / statistics.median(r_times)
    return {"raw_tasks_s": r_tps, "murmur_tasks_s": m_tps, "ratio": m_tps / r_tps}


async def memory_per_task(in_flight: int) -> dict[str, float]:
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

    raw_b = await measure(lambda: [asyncio.create_task(raw.run("x")) for _ in range(in_flight)])
    mur_b = await measure(
        lambda: [asyncio.create_task(runtime.run(agent, "x")) for _ in range(in_flight)]
    )
    return {"raw_kib": raw_b / 1024, "murmur_kib": mur_b / 1024, "ratio": mur_b / raw_b}


def startup(repeats: int) -> dict[str, float]:
    def median_ms(code: str) -> float:
        times = []
        for _ in range(repeats):
            out = subprocess.run(
                [sys.executable, "-c", f"import time; t=time.perf_counter(); {code}; "
                 "print(time.perf_counter()-t)"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            times.append(float(out.stdout.strip().splitlines()[-1]) * 1000)
        return statistics.median(times)

    def help_ms() -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "murmur.cli", "--help"],
                           capture_output=True, check=True)  # fmt: skip
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    def bare_ms() -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], capture_output=True, check=True)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    pyd = median_ms("import pydantic; from pydantic import BaseModel")
    mur = median_ms("import murmur")
    api = median_ms("from murmur import Agent, AgentRuntime, TaskSpec")
    bare = bare_ms()
    helped = help_ms()
    return {
        "import_pydantic_ms": pyd,
        "import_murmur_ms": mur,
        "from_murmur_import_api_ms": api,
        "api_import_ratio_vs_pydantic": api / pyd,
        "bare_interpreter_ms": bare,
        "murmur_help_ms": helped,
        "help_minus_interpreter_ms": helped - bare,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=500)
    parser.add_argument("--startup-repeats", type=int, default=7)
    args = parser.parse_args()
    results = {
        "per_run_overhead (target ratio <= 1.05)": await per_run_overhead(args.runs, args.blocks),
        "gather_throughput (target ratio >= 0.95)": await gather_throughput(
            args.tasks, 50, args.blocks
        ),
        "memory_per_in_flight_task (target ratio <= 1.1)": await memory_per_task(args.in_flight),
        "startup": startup(args.startup_repeats),
    }
    for name, values in results.items():
        print(name)
        for key, value in values.items():
            print(f"  {key:28s} {value:12.3f}")


if __name__ == "__main__":
    asyncio.run(main())

"""Background runs at once (what `murmur serve` executes): the collector's share, policy on vs off.

    uv run python benchmarks/background.py [--runs 1000] [--rounds 3] [--json]

`--runs` runs of a FunctionModel agent that sleeps 10 ms are started together through a
`LocalClient` (as `POST /runs` does) and waited for, three times per process after one warm-up
batch. Each round runs two fresh interpreters, one with the young-scan policy off
(`MURMUR_FANOUT_GC_THRESHOLD=0`) and one with it on (the default), in alternating order. Per
batch: CPU time of the process, the collector's time inside it (`gc.callbacks`), collections
run and full ones among them. A failed run stops the benchmark (a figure with failures is not
a result).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

_BATCHES = 3


async def _batches(runs: int) -> list[dict[str, float]]:
    from murmur_client import LocalClient
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from murmur import Agent, AgentRuntime
    from murmur.events import NullEventEmitter

    async def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(0.01)
        return ModelResponse(parts=[TextPart("ok")])

    collector = {"cpu": 0.0, "runs": 0, "full": 0}
    started = [0.0]

    def clock(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.process_time()
            return
        collector["cpu"] += time.process_time() - started[0]
        collector["runs"] += 1
        collector["full"] += info["generation"] == 2

    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    runtime.register(Agent(name="bench", model=FunctionModel(reply)))
    found: list[dict[str, float]] = []
    gc.callbacks.append(clock)
    async with LocalClient(runtime, max_background_runs=runs) as client:
        for batch in range(_BATCHES + 1):
            gc.collect()
            collector.update(cpu=0.0, runs=0, full=0)
            cpu = time.process_time()
            started_runs = [await client.start_run("bench", f"x{i}") for i in range(runs)]
            for run in started_runs:
                result = await client.wait(run.run_id, timeout=300)
                if result.status != "completed":
                    raise SystemExit(f"NOT A RESULT: run {run.run_id} {result.status}")
            if batch:  # the first batch warms up
                found.append({"cpu_s": time.process_time() - cpu, **collector})
        await client.shutdown()
    await runtime.aclose()
    return found


def _process(runs: int, policy: bool) -> list[dict[str, float]]:
    env = dict(os.environ)
    if policy:
        env.pop("MURMUR_FANOUT_GC_THRESHOLD", None)
    else:
        env["MURMUR_FANOUT_GC_THRESHOLD"] = "0"
    done = subprocess.run(
        [sys.executable, __file__, "--one", "--runs", str(runs)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs started together")
    parser.add_argument("--rounds", type=int, default=3, help="process pairs (off, on)")
    parser.add_argument("--json", action="store_true", help="one JSON document")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(asyncio.run(_batches(args.runs))))
        return
    sides: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for round_ in range(args.rounds):
        for name in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
            sides[name] += _process(args.runs, name == "on")
    summary: dict[str, Any] = {}
    for name, batches in sides.items():
        summary[f"policy {name}"] = {
            "cpu_s per batch": statistics.median(b["cpu_s"] for b in batches),
            "collector share of the CPU": statistics.median(b["cpu"] / b["cpu_s"] for b in batches),
            "collections per batch": statistics.median(b["runs"] for b in batches),
            "full collections per batch": statistics.median(b["full"] for b in batches),
            "batches": len(batches),
        }
    summary["cpu ratio off / on"] = (
        summary["policy off"]["cpu_s per batch"] / summary["policy on"]["cpu_s per batch"]
    )
    if args.json:
        print(json.dumps(summary))
        return
    for key, value in summary.items():
        if isinstance(value, dict):
            print(key)
            for k, v in value.items():
                print(f"  {k:30s} {v:10.3f}")
        else:
            print(f"{key:32s} {value:10.3f}")


if __name__ == "__main__":
    main()

"""Fleet benchmark: broker throughput and round-trip latency, as ratios to in-process runs.

```
uv run python benchmarks/fleet.py --broker redis://127.0.0.1:6379/0
uv run python benchmarks/fleet.py --broker nats://127.0.0.1:4222 --tasks 1000 --workers 2
```

Measured in one run, on the same agent (a `FunctionModel` that burns `--work-ms` of CPU per
task, so the work is real and no LLM is called):

- throughput: `--tasks` tasks through `runtime.gather` on an in-process `AgentRuntime()`,
  then through `AgentRuntime(broker=...)` served by `--workers` worker *processes*
  (`murmur worker start`); reported as tasks/s and fleet / in-process;
- latency: `--samples` sequential single runs of a no-work agent, in-process and over the
  broker (one worker); reported as p50 / p99 ms and the broker's added p50.

This file is also the worker processes' `--app` (`fleet:agents`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from murmur import Agent, AgentRuntime, TaskSpec
from murmur.events import NullEventEmitter

HERE = Path(__file__).resolve().parent
WORK_MS = float(os.environ.get("MURMUR_BENCH_WORK_MS", "5"))


def _burn(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def _model(work_ms: float) -> Any:
    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    def respond(messages: list[Any], info: Any) -> ModelResponse:
        _burn(work_ms)
        return ModelResponse(parts=[TextPart(f"done:{messages[-1].parts[-1].content}")])

    return FunctionModel(respond)


def build_agents(work_ms: float = WORK_MS) -> list[Agent[Any]]:
    """`worker` (burns work_ms per task) and `ping` (no work)."""
    return [
        Agent(name="bench-worker", model=_model(work_ms)),
        Agent(name="bench-ping", model=_model(0)),
    ]


agents = build_agents()


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _throughput(runtime: AgentRuntime, agent: Agent[Any], tasks: int, limit: int) -> float:
    specs = [TaskSpec(input=f"t{i}") for i in range(tasks)]
    started = time.perf_counter()
    results = await runtime.gather(agent, specs, max_concurrency=limit)
    elapsed = time.perf_counter() - started
    failed = [r.error for r in results if not r.is_ok()]
    if failed:
        raise SystemExit(f"{len(failed)} tasks failed, first: {failed[0]}")
    return tasks / elapsed


async def _latency(runtime: AgentRuntime, agent: Agent[Any], samples: int) -> list[float]:
    for i in range(20):  # warm up connections and caches
        await runtime.run(agent, f"warm{i}")
    out: list[float] = []
    for i in range(samples):
        started = time.perf_counter()
        result = await runtime.run(agent, f"p{i}")
        out.append((time.perf_counter() - started) * 1000)
        if not result.is_ok():
            raise SystemExit(f"latency run failed: {result.error}")
    return out


def _start_workers(broker: str, count: int, names: str, concurrency: int) -> list[Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "MURMUR_BENCH_WORK_MS": str(WORK_MS),
    }
    procs = []
    log = open(os.environ.get("MURMUR_BENCH_LOG", os.devnull), "ab")  # noqa: SIM115
    for i in range(count):
        command = [
            sys.executable, "-c", "from murmur.cli import main; main()",
            "worker", "start", "--agents", names, "--app", "fleet:agents",
            "--broker", broker, "--concurrency", str(concurrency),
            "--consumer-id", f"bench-{i}-{uuid.uuid4().hex[:6]}", "--no-log-events",
        ]  # fmt: skip
        procs.append(
            subprocess.Popen(command, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=log)
        )
    return procs


def _stop(procs: list[Any]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _wait_for_fleet(runtime: AgentRuntime, agent: Agent[Any], workers: int) -> None:
    # Workers are up once a burst of pings is served (each process imports for ~2 s).
    deadline = time.monotonic() + 90
    errors: list[Any] = []
    while time.monotonic() < deadline:
        results = await runtime.gather(agent, [f"ready{i}" for i in range(workers * 4)])
        if all(r.is_ok() for r in results):
            return
        errors = [r.error for r in results if r.error is not None]
    raise SystemExit(f"the worker processes did not start within 90 s: {errors[:1]}")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run both measurements and return the figures."""
    worker_agent, ping = build_agents(WORK_MS)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in args.broker else "?"
    broker = f"{args.broker}{sep}namespace={namespace}"
    limit = args.concurrency * args.workers

    async with AgentRuntime(event_emitter=NullEventEmitter()) as local:
        await local.gather(worker_agent, [f"w{i}" for i in range(50)])  # warm up
        local_tps = await _throughput(local, worker_agent, args.tasks, limit)
        local_lat = await _latency(local, ping, args.samples)

    from murmur import RuntimeOptions

    options = RuntimeOptions(timeout_seconds=120)
    procs = _start_workers(broker, 1, "bench-ping", 4)
    try:
        async with AgentRuntime(options, broker=broker, event_emitter=NullEventEmitter()) as rt:
            await _wait_for_fleet(rt, ping, 1)
            broker_lat = await _latency(rt, ping, args.samples)
    finally:
        _stop(procs)
    procs = _start_workers(broker, args.workers, "bench-worker,bench-ping", args.concurrency)
    try:
        async with AgentRuntime(options, broker=broker, event_emitter=NullEventEmitter()) as rt:
            await _wait_for_fleet(rt, ping, args.workers)
            await rt.gather(worker_agent, [f"w{i}" for i in range(50)])  # warm up
            fleet_tps = await _throughput(rt, worker_agent, args.tasks, limit)
    finally:
        _stop(procs)

    _cleanup(broker, namespace)
    figures = {
        "broker": args.broker,
        "tasks": args.tasks,
        "workers": args.workers,
        "work_ms": WORK_MS,
        "in_process_tasks_per_s": round(local_tps, 1),
        "fleet_tasks_per_s": round(fleet_tps, 1),
        "throughput_ratio": round(fleet_tps / local_tps, 2),
        "in_process_p50_ms": round(_percentile(local_lat, 0.5), 3),
        "in_process_p99_ms": round(_percentile(local_lat, 0.99), 3),
        "broker_p50_ms": round(_percentile(broker_lat, 0.5), 3),
        "broker_p99_ms": round(_percentile(broker_lat, 0.99), 3),
        "broker_added_p50_ms": round(_percentile(broker_lat, 0.5) - _percentile(local_lat, 0.5), 3),
        "latency_ratio_p50": round(_percentile(broker_lat, 0.5) / _percentile(local_lat, 0.5), 2),
        "mean_broker_ms": round(statistics.fmean(broker_lat), 3),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    return figures


def _cleanup(broker: str, namespace: str) -> None:
    """Delete the run's keys (Redis only; other brokers' plugins clean up their own way)."""
    if not broker.startswith(("redis://", "rediss://")):
        return
    import redis

    client = redis.Redis.from_url(broker.split("?", 1)[0])
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=16, help="per worker")
    parser.add_argument("--samples", type=int, default=300, help="latency samples")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse()
    result = asyncio.run(main(arguments))
    if arguments.json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")

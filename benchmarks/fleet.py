"""Fleet benchmark: broker throughput and round-trip latency, as ratios to in-process runs.

```
uv run python benchmarks/fleet.py --broker redis://127.0.0.1:6379/0
uv run python benchmarks/fleet.py --broker nats://127.0.0.1:4222 --tasks 1000 --workers 2
```

Measured in one run, on the same agent (a `FunctionModel`; `MURMUR_BENCH_WORK_MS` of CPU
burnt per task, default 0: no LLM is called), `--repeats` interleaved repetitions, each
figure reported as median / min / max:

- throughput: `--tasks` tasks through `runtime.gather(max_concurrency=--width)` on an
  in-process `AgentRuntime()`, then through `AgentRuntime(broker=...)` served by
  `--workers` worker *processes* (`murmur worker start`); tasks/s and fleet / in-process;
- latency: `--samples` sequential single runs, in-process and over the broker; p50 ms and
  the broker's added p50.

Every failed run is counted (`failed_runs`); with any, the output says NOT A RESULT.
`--celery` adds Celery (Redis broker and result backend, prefork pool of `--workers`) on
the same agent body, when `celery` is installed (`benchmarks/_celery_bench.py`).

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from murmur import Agent, AgentRuntime, TaskSpec
from murmur.events import NullEventEmitter

HERE = Path(__file__).resolve().parent
WORK_MS = float(os.environ.get("MURMUR_BENCH_WORK_MS", "0"))


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


class Failures:
    """Failed runs of the whole benchmark: a benchmark with failures is not a result."""

    def __init__(self) -> None:
        self.count = 0
        self.first: list[str] = []

    def add(self, results: list[Any]) -> None:
        for result in results:
            if not result.is_ok():
                self.count += 1
                if len(self.first) < 3:
                    self.first.append(repr(result.error)[:300])


async def _throughput(
    runtime: AgentRuntime, agent: Agent[Any], tasks: int, limit: int, failures: Failures
) -> float:
    specs = [TaskSpec(input=f"t{i}") for i in range(tasks)]
    started = time.perf_counter()
    results = await runtime.gather(agent, specs, max_concurrency=limit)
    elapsed = time.perf_counter() - started
    failures.add(results)
    return tasks / elapsed


async def _latency(
    runtime: AgentRuntime, agent: Agent[Any], samples: int, failures: Failures
) -> list[float]:
    for i in range(20):  # warm up connections and caches
        await runtime.run(agent, f"warm{i}")
    out: list[float] = []
    for i in range(samples):
        started = time.perf_counter()
        result = await runtime.run(agent, f"p{i}")
        out.append((time.perf_counter() - started) * 1000)
        failures.add([result])
    return out


def _start_workers(
    broker: str, count: int, names: str, concurrency: int, extra: Sequence[str] = ()
) -> list[Any]:
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
            "--consumer-id", f"bench-{i}-{uuid.uuid4().hex[:6]}", "--no-log-events", *extra,
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


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run both measurements `--repeats` times (interleaved) and return the figures."""
    worker_agent, ping = build_agents(WORK_MS)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    base = broker_url(args.broker)
    sep = "&" if "?" in base else "?"
    broker = f"{base}{sep}namespace={namespace}"
    limit = args.width
    failures = Failures()
    from murmur import RuntimeOptions

    options = RuntimeOptions(timeout_seconds=120)
    local_tps: list[float] = []
    fleet_tps: list[float] = []
    added_p50: list[float] = []
    ratios: list[float] = []
    local_p50: list[float] = []
    broker_p50: list[float] = []
    procs = _start_workers(
        broker, args.workers, "bench-worker,bench-ping", args.concurrency, args.worker_args.split()
    )
    try:
        async with (
            AgentRuntime(event_emitter=NullEventEmitter()) as local,
            AgentRuntime(options, broker=broker, event_emitter=NullEventEmitter()) as rt,
        ):
            await _wait_for_fleet(rt, ping, args.workers)
            await local.gather(worker_agent, [f"w{i}" for i in range(200)])  # warm up
            await rt.gather(worker_agent, [f"w{i}" for i in range(200)], max_concurrency=limit)
            for _ in range(args.repeats):
                local_tps.append(
                    await _throughput(local, worker_agent, args.tasks, limit, failures)
                )
                fleet_tps.append(await _throughput(rt, worker_agent, args.tasks, limit, failures))
                ratios.append(fleet_tps[-1] / local_tps[-1])
                local_lat = await _latency(local, ping, args.samples, failures)
                broker_lat = await _latency(rt, ping, args.samples, failures)
                local_p50.append(_percentile(local_lat, 0.5))
                broker_p50.append(_percentile(broker_lat, 0.5))
                added_p50.append(broker_p50[-1] - local_p50[-1])
    finally:
        _stop(procs)

    _cleanup(broker, namespace)
    figures: dict[str, Any] = {
        "broker": args.broker,
        "valid": failures.count == 0,
        "failed_runs": failures.count,
        "first_failures": failures.first,
        "tasks": args.tasks,
        "width": args.width,
        "workers": args.workers,
        "worker_concurrency": args.concurrency,
        "work_ms": WORK_MS,
        "repeats": args.repeats,
        "in_process_tasks_per_s": _spread(local_tps),
        "fleet_tasks_per_s": _spread(fleet_tps),
        "throughput_ratio": _spread(ratios),
        "in_process_p50_ms": _spread(local_p50),
        "broker_p50_ms": _spread(broker_p50),
        "broker_added_p50_ms": _spread(added_p50),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.celery:
        sys.path.insert(0, str(HERE))
        from _celery_bench import celery_figures

        figures["celery"] = celery_figures(args.tasks, args.width, args.samples)
        figures["vs_celery_throughput"] = round(
            figures["fleet_tasks_per_s"]["median"] / figures["celery"]["tasks_per_s"], 2
        )
    return figures


_MOCK: list[Any] = []


def broker_url(url: str) -> str:
    """`url`, or for `kafka-mock` a `kafka://` URL of librdkafka's mock cluster started in
    this process (kept alive until exit; the worker processes reach it over TCP)."""
    if url != "kafka-mock":
        return url
    import logging

    from confluent_kafka import Producer

    cluster = Producer({"test.mock.num.brokers": 1, "logger": logging.getLogger("mock")})
    _MOCK.append(cluster)
    brokers = cluster.list_topics(timeout=10).brokers.values()
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers)
    # The mock answers fetches only at fetch.wait.max.ms; a real broker wakes them at once.
    return f"kafka://{bootstrap}?fetch_wait_max_ms=10&group_protocol=consumer"


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
    parser.add_argument(
        "--broker", default="redis://127.0.0.1:6379/0", help="a broker URL, or kafka-mock"
    )
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--width", type=int, default=100, help="gather max_concurrency")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="per worker")
    parser.add_argument("--samples", type=int, default=200, help="latency samples per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repetitions")
    parser.add_argument(
        "--celery", action="store_true", help="also run Celery (Redis broker) on the same body"
    )
    parser.add_argument(
        "--worker-args",
        default="",
        help="more `murmur worker start` flags, e.g. --worker-args=--log-events",
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _parse()
    result = asyncio.run(main(arguments))
    if not result["valid"]:
        print(f"NOT A RESULT: {result['failed_runs']} runs failed: {result['first_failures']}")
    if arguments.json:
        print(json.dumps(result))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")

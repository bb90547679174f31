"""Celery on the same agent body as `benchmarks/fleet.py`, for `fleet.py --celery`.

Celery is not a murmur dependency: run it with
`uv run --with 'celery[redis]' python benchmarks/fleet.py --broker redis://... --celery`.
Celery gets the same Redis as its broker and result backend (database 5), a prefork pool of
2 processes (one per core, like murmur's 2 worker processes), and a task that runs the same
`pydantic_ai.Agent` on the same `FunctionModel` body as murmur's `bench-worker` agent.
Throughput sends the tasks in groups of `width` (at most `width` in flight), latency is
sequential `delay().get()`.

This module is also the Celery worker's app (`-A _celery_bench`).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery, group  # ty: ignore[import-not-found]  (optional: uv run --with celery)

HERE = Path(__file__).resolve().parent
URL = os.environ.get("CELERY_BENCH_URL", "redis://127.0.0.1:6379/5")

app = Celery("murmur_bench", broker=URL, backend=URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    result_expires=600,
)

_AGENT: Any = None


@app.task(name="bench.run_agent")
def run_agent(prompt: str) -> str:
    """The body of murmur's `bench-worker`: one PydanticAI run of the same FunctionModel."""
    global _AGENT
    if _AGENT is None:
        from fleet import WORK_MS, _model
        from pydantic_ai import Agent

        _AGENT = Agent(_model(WORK_MS))
    return str(_AGENT.run_sync(prompt).output)


def _start_worker(processes: int) -> subprocess.Popen[bytes]:
    path = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    command = [
        sys.executable, "-m", "celery", "-A", "_celery_bench", "worker",
        "--pool", "prefork", "--concurrency", str(processes), "--loglevel", "WARNING",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def celery_figures(tasks: int, width: int, samples: int, processes: int = 2) -> dict[str, Any]:
    """Throughput and p50 latency of Celery on the same agent body; failed tasks counted."""
    worker = _start_worker(processes)
    failed = 0
    try:
        deadline = time.monotonic() + 60
        while True:  # the worker is up once a task comes back
            try:
                run_agent.delay("ready").get(timeout=5)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise SystemExit("the Celery worker did not start within 60 s") from None
        for i in range(50):
            run_agent.delay(f"warm{i}").get(timeout=30)
        started = time.perf_counter()
        for first in range(0, tasks, width):
            batch = group(run_agent.s(f"t{i}") for i in range(first, min(tasks, first + width)))
            results = batch.apply_async().get(timeout=120, propagate=False)
            failed += sum(1 for r in results if not isinstance(r, str))
        throughput = tasks / (time.perf_counter() - started)
        latencies = []
        for i in range(samples):
            began = time.perf_counter()
            try:
                run_agent.delay(f"p{i}").get(timeout=30)
            except Exception:
                failed += 1
            latencies.append((time.perf_counter() - began) * 1000)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    return {
        "tasks_per_s": round(throughput, 1),
        "p50_ms": round(statistics.median(latencies), 3),
        "failed_runs": failed,
        "processes": processes,
    }

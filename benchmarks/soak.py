"""Soak at full size: one runtime, 2 worker processes, 10,000 runs, per broker.

```
uv run python benchmarks/soak.py --broker redis://127.0.0.1:6379/0
uv run python benchmarks/soak.py --broker nats://127.0.0.1:4222 --runs 10000
```

The workload of `murmur.testing.soak` (the soak tests run it at CI size): rounds of 20
sequential single runs, then gathers at widths 100 and 500, on one long-lived
`AgentRuntime(broker=...)` served by `murmur worker start` processes. Reports failed runs
(any failure and the result is not a result), throughput, and the start (after the first
round, the warm-up) and end values of the caller's open fds, sockets, asyncio tasks and RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fleet import (  # noqa: E402
    _cleanup,
    _start_workers,
    _stop,
    _wait_for_fleet,
    broker_url,
    build_agents,
)

from murmur import AgentRuntime, RuntimeOptions  # noqa: E402
from murmur.events import NullEventEmitter  # noqa: E402
from murmur.testing.soak import soak  # noqa: E402


async def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run the soak and return its figures."""
    worker_agent, ping = build_agents(0)
    namespace = f"soak-{uuid.uuid4().hex[:8]}"
    base = broker_url(args.broker)
    sep = "&" if "?" in base else "?"
    broker = f"{base}{sep}namespace={namespace}"
    procs = _start_workers(broker, args.workers, "bench-worker,bench-ping", args.concurrency)
    try:
        options = RuntimeOptions(timeout_seconds=120)
        async with AgentRuntime(options, broker=broker, event_emitter=NullEventEmitter()) as rt:
            await _wait_for_fleet(rt, ping, args.workers)
            report = await soak(
                rt,
                worker_agent,
                lambda i: f"t{i}",
                total=args.runs,
                check=lambda i, output: output == f"done:t{i}",
            )
    finally:
        _stop(procs)
    _cleanup(broker, namespace)
    return {
        "broker": args.broker,
        "valid": report.failed == 0,
        "runs": report.runs,
        "failed_runs": report.failed,
        "first_failures": [e for e, _ in report.errors.most_common(3)],
        "runs_per_s": round(report.throughput, 1),
        "rounds": len(report.samples),
        "curves_after_warm_up": {k: report.curve(k) for k in report.samples[-1]},
    }


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--broker", default="redis://127.0.0.1:6379/0", help="a broker URL, or kafka-mock"
    )
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32, help="per worker")
    return parser.parse_args()


if __name__ == "__main__":
    figures = asyncio.run(main(_parse()))
    if not figures["valid"]:
        print(f"NOT A RESULT: {figures['failed_runs']} runs failed")
    print(json.dumps(figures, indent=2))

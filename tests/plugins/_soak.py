"""Soak scenario on any broker: one runtime, 2 worker processes, thousands of runs.

Subclass `FleetSoakScenarios`, provide `broker_url`, and optionally override
`broker_probe` with broker-side counts that must come back to where they were (connected
clients, queue lengths). The size is `MURMUR_SOAK_RUNS` (default 2,000, three rounds: well
under a minute per broker in CI); `benchmarks/soak.py` runs the same workload at 10,000.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

from murmur import AgentRuntime, RuntimeOptions
from murmur.backends import JobBackend
from murmur.testing.fleet_processes import (
    Number,
    ProcessFleetFixtures,
    StartWorker,
    doubler,
)
from murmur.testing.soak import Probe, soak

SOAK_RUNS = int(os.environ.get("MURMUR_SOAK_RUNS", "2000"))


class FleetSoakScenarios(ProcessFleetFixtures):
    """One long-lived runtime serving single runs and wide gathers loses nothing and leaks
    nothing."""

    soak_slack: ClassVar[dict[str, int]] = {}
    """How much a sampled count may grow after warm-up (see `SoakReport.assert_flat`)."""

    def broker_probe(self, broker_url: str) -> Probe | None:
        """Override: broker-side counts sampled after every round (must stay flat)."""
        return None

    async def test_one_runtime_serves_thousands_of_runs_without_failures_or_leaks(
        self,
        start_worker: StartWorker,
        caller: Callable[..., AgentRuntime],
        broker_url: str,
    ) -> None:
        """Singles and gathers at widths 100 and 500 over 2 worker processes: 0 failed runs;
        caller fds, sockets, asyncio tasks, RSS and the broker's counts flat after warm-up."""
        await start_worker(delay_s=0.0, concurrency=16)
        await start_worker(delay_s=0.0, concurrency=16)
        runtime = caller(RuntimeOptions(timeout_seconds=120))

        def right(i: int, output: Any) -> bool:
            return output.n == i and output.doubled == 2 * i

        report = await soak(
            runtime,
            doubler,
            lambda i: Number(n=i),
            total=SOAK_RUNS,
            probe=self.broker_probe(broker_url),
            check=right,
        )
        print(report.summary())  # the curves, for the issue note
        assert report.failed == 0, report.errors.most_common(3)
        assert report.runs >= SOAK_RUNS
        report.assert_flat(slack=self.soak_slack)
        backend = runtime.backend
        assert isinstance(backend, JobBackend)
        assert backend.pending == 0
        assert backend.stats["results"] == report.runs

    async def test_runtimes_opened_and_closed_again_and_again_leave_no_connections(
        self, broker_url: str
    ) -> None:
        """A caller runtime started (connected, reply channel subscribed) and closed 10 times:
        the process ends with the sockets and asyncio tasks it started with."""
        import asyncio
        import gc

        from murmur.testing.soak import caller_sample

        async def cycle() -> None:
            runtime = AgentRuntime(RuntimeOptions(timeout_seconds=30), broker=broker_url)
            await runtime.start()
            await runtime.aclose()

        await cycle()  # warm-up: imports, lazily created module-level clients
        gc.collect()
        await asyncio.sleep(0.5)
        before = caller_sample()
        for _ in range(10):
            await cycle()
        gc.collect()
        await asyncio.sleep(0.5)
        after = caller_sample()
        assert after["sockets"] <= before["sockets"], (before, after)
        assert after["tasks"] <= before["tasks"], (before, after)

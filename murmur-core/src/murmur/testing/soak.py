"""A soak workload for one long-lived runtime, and the resource samples that show a leak.

`soak()` drives one `AgentRuntime` through rounds of single runs and gathers at several
widths (the way a service uses one runtime for hours), counts every failed run, and samples
the caller process after each round: open file descriptors, sockets, asyncio tasks and RSS,
plus whatever the broker-side `probe` reports (Redis `CLIENT LIST`, queue lengths, ...).
The soak tests of every broker plugin and `benchmarks/soak.py` use it.

```python
report = await soak(runtime, agent, lambda i: Number(n=i), total=10_000)
assert report.failed == 0, report.errors.most_common(3)
report.assert_flat()        # fds, sockets, tasks, RSS after warm-up
```
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from murmur.agent import Agent
from murmur.runtime import AgentRuntime
from murmur.types import TaskSpec

__all__ = ["SoakReport", "caller_sample", "soak"]

Probe = Callable[[], Awaitable[dict[str, int]]]


def caller_sample() -> dict[str, int]:
    """This process now: open fds, open sockets, asyncio tasks, RSS in KiB (Linux /proc)."""
    fds = os.listdir("/proc/self/fd")
    sockets = 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                sockets += 1
        except OSError:  # closed between listdir and readlink
            continue
    rss = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {
        "fds": len(fds),
        "sockets": sockets,
        "tasks": len(asyncio.all_tasks()),
        "rss_kib": rss,
    }


@dataclass
class SoakReport:
    """What a soak did: runs, failures by error, and a sample after every round."""

    runs: int = 0
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[dict[str, int]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        """Runs per second over the whole soak."""
        return self.runs / self.seconds if self.seconds else 0.0

    def curve(self, key: str) -> tuple[int, int]:
        """`key`'s value after warm-up (the first round) and at the end."""
        values = [s[key] for s in self.samples if key in s]
        return (values[0], values[-1]) if values else (0, 0)

    def assert_flat(
        self,
        *,
        slack: dict[str, int] | None = None,
        keys: Sequence[str] = ("fds", "sockets", "tasks", "rss_kib"),
    ) -> None:
        """Fail unless every sampled resource ends within `slack` of its post-warm-up value.

        Defaults: 4 fds, 2 sockets, 4 tasks, 32 MiB of RSS, 0 for broker-side counts.
        """
        allowed = {"fds": 4, "sockets": 2, "tasks": 4, "rss_kib": 32 * 1024}
        allowed.update(slack or {})
        grew = {}
        for key in [*keys, *(k for k in self.samples[-1] if k not in keys)]:
            start, end = self.curve(key)
            if end - start > allowed.get(key, 0):
                grew[key] = (start, end)
        assert not grew, f"resources grew after warm-up (start, end): {grew}; {self.samples}"

    def summary(self) -> str:
        """One line per resource: `key: start -> end`."""
        keys = list(self.samples[-1]) if self.samples else []
        curves = ", ".join(f"{k} {self.curve(k)[0]}->{self.curve(k)[1]}" for k in keys)
        return (
            f"{self.runs} runs, {self.failed} failed, {self.throughput:.0f} runs/s; "
            f"after warm-up: {curves}"
        )


async def soak(
    runtime: AgentRuntime,
    agent: Agent[Any],
    make_input: Callable[[int], Any],
    *,
    total: int,
    widths: Sequence[int] = (100, 500),
    singles_per_round: int = 20,
    probe: Probe | None = None,
    check: Callable[[int, Any], bool] | None = None,
) -> SoakReport:
    """Run `total` runs on `runtime` in rounds, sampling resources after each round.

    A round is `singles_per_round` sequential `runtime.run` calls, then one gather per
    width in `widths` (`max(width, 200)` tasks at `max_concurrency=width`). The first round is the
    warm-up; rounds repeat until `total` runs were made.

    Args:
        runtime: The runtime under test (started by the first run).
        agent: The agent to run.
        make_input: Builds the input of run number `i`.
        total: Runs to make, at least.
        widths: Gather widths of each round.
        singles_per_round: Sequential single runs at the start of each round.
        probe: Broker-side counts merged into each sample.
        check: `check(i, output)` is False for a wrong output (counted as a failure).
    """
    report = SoakReport()
    counter = 0
    started = time.perf_counter()

    def tally(i: int, result: Any) -> None:
        report.runs += 1
        if not result.is_ok():
            report.failed += 1
            error = result.error
            report.errors[f"{type(error).__name__}({getattr(error, 'code', '')}): {error}"] += 1
        elif check is not None and not check(i, result.output):
            report.failed += 1
            report.errors[f"wrong output for input {i}: {result.output!r}"] += 1

    while report.runs < total:
        for _ in range(singles_per_round):
            i, counter = counter, counter + 1
            tally(i, await runtime.run(agent, TaskSpec(input=make_input(i))))
        for width in widths:
            size = max(width, 200)
            first, counter = counter, counter + size
            specs = [TaskSpec(input=make_input(first + k)) for k in range(size)]
            results = await runtime.gather(agent, specs, max_concurrency=width)
            for k, result in enumerate(results):
                tally(first + k, result)
        await asyncio.sleep(0.2)  # let replies and acks of the round settle before sampling
        sample = caller_sample()
        if probe is not None:
            sample.update(await probe())
        report.samples.append(sample)
    report.seconds = time.perf_counter() - started
    return report

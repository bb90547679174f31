"""Supervision helpers: restart a failing child with backoff, a bounded pool of workers."""

from __future__ import annotations

import asyncio

import pytest

from murmur import SpawnError
from murmur.processes import (
    agent_process,
    done,
    emit,
    fail,
    restarting,
    spawn,
    wait,
    worker_pool,
)


def flaky(failures: int):
    attempts: list[str] = []

    @agent_process
    async def flaky_task(spec: str) -> str:
        attempts.append(spec)
        if len(attempts) <= failures:
            fail(f"flake {len(attempts)}")
        else:
            done(f"haiku: {spec}")
        return await wait()

    return flaky_task, attempts


async def test_restarting_retries_a_failed_child_until_it_succeeds() -> None:
    """restarting(fn, max_restarts=2) restarts twice, with restarting events between."""
    flaky_task, attempts = flaky(failures=2)

    @agent_process
    async def main() -> tuple[str, list[tuple[str, object, str | None]]]:
        handle = spawn(restarting(flaky_task, max_restarts=2, backoff_s=0.001), "x")
        result = await handle
        return result, [(e.type, e.data, e.source) async for e in handle.events]

    result, events = await main()
    assert result == "haiku: x"
    assert len(attempts) == 3
    restarts = [d for t, d, s in events if t == "restarting" and isinstance(d, dict)]
    assert [r["attempt"] for r in restarts] == [2, 3]
    assert ("failed", "flake 1", "attempt-1") in events
    assert ("done", result, "attempt-3") in events


async def test_restarting_gives_up_after_max_restarts_with_the_last_error() -> None:
    """Past max_restarts the supervisor fails with the child's last failure."""
    flaky_task, attempts = flaky(failures=5)

    @agent_process
    async def main() -> str:
        return await restarting(flaky_task, max_restarts=1, backoff_s=0.001)("x")

    with pytest.raises(SpawnError, match="flake 2"):
        await main()
    assert attempts == ["x", "x"]


async def test_worker_pool_bounds_concurrency_and_keeps_input_order() -> None:
    """worker_pool runs at most `concurrency` children at once; results come back in
    input order, a failure as its error; children's events are bubbled as t0000..."""
    running = 0
    peak = 0

    @agent_process
    async def work(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        if n == 3:
            fail("three")
            return await wait()
        emit("worked", n)
        return n * 10

    @agent_process
    async def main() -> list[object]:
        return await worker_pool(work, range(6), concurrency=2)

    @agent_process
    async def observer() -> tuple[list[object], list[str | None]]:
        handle = spawn(main)
        results = await handle
        return results, [e.source async for e in handle.events if e.type == "worked"]

    results, sources = await observer()
    assert peak == 2
    assert results[:3] == [0, 10, 20]
    assert results[4:] == [40, 50]
    assert isinstance(results[3], SpawnError)
    assert sorted(s or "" for s in sources) == ["t0000", "t0001", "t0002", "t0004", "t0005"]


async def test_worker_pool_restarts_failed_workers_when_asked() -> None:
    """worker_pool(max_restarts=1) restarts each failed worker once."""
    flaky_task, attempts = flaky(failures=1)

    @agent_process
    async def main() -> list[object]:
        return await worker_pool(flaky_task, ["a"], max_restarts=1, backoff_s=0.001)

    assert await main() == ["haiku: a"]
    assert attempts == ["a", "a"]

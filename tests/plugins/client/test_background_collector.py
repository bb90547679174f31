"""Background runs executing together space out the collector's young scans, like a fan-out.

`murmur serve` starts each run through the client's background runner: many runs at once,
none of them a gather. While two or more execute, the young threshold is raised; when one
or none is left, the process's thresholds come back.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Generator

import pytest
from murmur_client import LocalClient

from murmur import AgentRuntime
from murmur.core.collector import DEFAULT_FANOUT_THRESHOLD

from ..server._agents import build_runtime


@pytest.fixture(autouse=True)
def thresholds(monkeypatch: pytest.MonkeyPatch) -> Generator[tuple[int, int, int]]:
    """CPython's default thresholds during the test; the process's own put back after it."""
    monkeypatch.delenv("MURMUR_FANOUT_GC_THRESHOLD", raising=False)
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.set_threshold(*before)


@pytest.fixture
def gate() -> asyncio.Event:
    """Opens the `slow` agent's model."""
    return asyncio.Event()


@pytest.fixture
async def client(gate: asyncio.Event) -> AsyncIterator[LocalClient]:
    runtime: AgentRuntime = build_runtime(gate)
    local = LocalClient(runtime)
    async with local:
        yield local
    gate.set()
    await local.shutdown()
    await runtime.aclose()


async def test_two_background_runs_raise_the_threshold_until_one_is_left(
    client: LocalClient, gate: asyncio.Event, thresholds: tuple[int, int, int]
) -> None:
    first = await client.start_run("slow", "a")
    assert gc.get_threshold() == thresholds  # one run: not a fan-out
    second = await client.start_run("slow", "b")
    assert gc.get_threshold() == (DEFAULT_FANOUT_THRESHOLD, *thresholds[1:])
    gate.set()
    await client.wait(first.run_id, timeout=30)
    await client.wait(second.run_id, timeout=30)
    for _ in range(100):  # the tasks' done callbacks run just after the runs are recorded
        if gc.get_threshold() == thresholds:
            break
        await asyncio.sleep(0.01)
    assert gc.get_threshold() == thresholds


async def test_a_cancelled_run_puts_the_thresholds_back(
    client: LocalClient, thresholds: tuple[int, int, int]
) -> None:
    first = await client.start_run("slow", "a")
    second = await client.start_run("slow", "b")
    assert gc.get_threshold()[0] == DEFAULT_FANOUT_THRESHOLD
    assert await client.cancel(second.run_id)
    await client.wait(second.run_id, timeout=30)
    for _ in range(100):
        if gc.get_threshold() == thresholds:
            break
        await asyncio.sleep(0.01)
    assert gc.get_threshold() == thresholds  # one left: back to the process's thresholds
    assert await client.cancel(first.run_id)
    await client.wait(first.run_id, timeout=30)
    assert gc.get_threshold() == thresholds

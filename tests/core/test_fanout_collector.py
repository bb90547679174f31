"""Fan-outs space out the collector's young scans while they run, and put the process's back."""

from __future__ import annotations

import asyncio
import gc
import threading
import uuid
import weakref
from collections.abc import AsyncIterator, Generator
from contextlib import aclosing

import pytest
import structlog.testing
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime
from murmur.core.collector import DEFAULT_FANOUT_THRESHOLD, fanout_threshold
from murmur.core.fanout import bounded_map
from murmur.events import NullEventEmitter
from murmur.worker import Worker

from ._models import last_prompt

seen: list[int] = []
"""The young threshold each model call saw."""


async def recording(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Records the young threshold, sleeps as long as the prompt says, fails on "fail"."""
    seen.append(gc.get_threshold()[0])
    prompt = last_prompt(messages)
    if prompt == "fail":
        raise RuntimeError("the model refused")
    await asyncio.sleep(float(prompt))
    return ModelResponse(parts=[TextPart("ok")])


agent = Agent(name="recorder", model=FunctionModel(recording))


@pytest.fixture(autouse=True)
def thresholds(monkeypatch: pytest.MonkeyPatch) -> Generator[tuple[int, int, int]]:
    """The process's thresholds before the test, put back after it whatever the test did."""
    monkeypatch.delenv("MURMUR_FANOUT_GC_THRESHOLD", raising=False)
    before = gc.get_threshold()
    enabled = gc.isenabled()
    seen.clear()
    gc.set_threshold(700, 10, 10)
    yield (700, 10, 10)
    gc.set_threshold(*before)
    if enabled:
        gc.enable()


@pytest.fixture
async def runtime() -> AsyncIterator[AgentRuntime]:
    async with AgentRuntime(event_emitter=NullEventEmitter()) as rt:
        yield rt


async def test_gather_raises_the_young_threshold_and_puts_it_back(
    runtime: AgentRuntime, thresholds: tuple[int, int, int]
) -> None:
    results = await runtime.gather(agent, ["0", "0.01", "fail", "0"], max_concurrency=2)

    assert [r.is_ok() for r in results] == [True, True, False, True]
    assert seen == [DEFAULT_FANOUT_THRESHOLD] * 4
    assert gc.get_threshold() == thresholds
    assert gc.get_count()[0] <= thresholds[0]  # the fan-out paid for its own young scan


async def test_one_runner_or_one_run_leaves_the_collector_alone(runtime: AgentRuntime) -> None:
    await runtime.gather(agent, ["0", "0"], max_concurrency=1)
    await runtime.run(agent, "0")

    assert seen == [700, 700, 700]


async def test_overlapping_fan_outs_keep_it_raised_until_the_last_ends(
    runtime: AgentRuntime, thresholds: tuple[int, int, int]
) -> None:
    """The short gather ends first; the long one's later runs still see the raised value."""
    long = asyncio.ensure_future(runtime.gather(agent, ["0.05"] * 4, max_concurrency=2))
    await asyncio.sleep(0.01)
    await runtime.gather(agent, ["0", "0"], max_concurrency=2)
    assert gc.get_threshold()[0] == DEFAULT_FANOUT_THRESHOLD
    await long

    assert set(seen) == {DEFAULT_FANOUT_THRESHOLD}
    assert gc.get_threshold() == thresholds


async def test_as_completed_stopped_early_or_a_cancelled_gather_puts_it_back(
    runtime: AgentRuntime, thresholds: tuple[int, int, int]
) -> None:
    async with aclosing(runtime.as_completed(agent, ["0", "1", "1"], max_concurrency=3)) as it:
        async for _ in it:
            assert gc.get_threshold()[0] == DEFAULT_FANOUT_THRESHOLD
            break
    assert gc.get_threshold() == thresholds

    task = asyncio.ensure_future(runtime.gather(agent, ["1"] * 3, max_concurrency=3))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gc.get_threshold() == thresholds


async def test_a_failing_call_in_a_bounded_map_puts_it_back(
    thresholds: tuple[int, int, int],
) -> None:
    async def call(index: int, item: str) -> str:
        await asyncio.sleep(0)
        if item == "boom":
            raise ValueError(item)
        return item

    with pytest.raises(ValueError, match="boom"):
        await bounded_map(["a", "boom", "c"], call, 3)
    assert gc.get_threshold() == thresholds


def test_an_unreadable_setting_turns_it_off_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MURMUR_FANOUT_GC_THRESHOLD", "twenty thousand")
    with structlog.testing.capture_logs() as logs:
        assert fanout_threshold() == 0
        assert fanout_threshold() == 0

    assert [(entry["log_level"], entry["value"]) for entry in logs] == [
        ("warning", "twenty thousand")
    ]
    assert "Set it to a number such as 20000, or to 0" in logs[0]["event"]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("0", 0), ("5000", 5000), ("-3", 0), ("lots", 0)],
)
async def test_the_environment_sets_or_turns_off_the_threshold(
    runtime: AgentRuntime, monkeypatch: pytest.MonkeyPatch, setting: str, expected: int
) -> None:
    monkeypatch.setenv("MURMUR_FANOUT_GC_THRESHOLD", setting)
    assert fanout_threshold() == expected

    await runtime.gather(agent, ["0", "0"], max_concurrency=2)

    assert seen == [expected or 700] * 2


async def test_the_process_own_settings_win(
    runtime: AgentRuntime, thresholds: tuple[int, int, int]
) -> None:
    """Collector disabled, automatic collection off, a wider threshold: nothing changes."""
    gc.disable()
    await runtime.gather(agent, ["0", "0"], max_concurrency=2)
    gc.enable()
    gc.set_threshold(0, 10, 10)
    await runtime.gather(agent, ["0", "0"], max_concurrency=2)
    gc.set_threshold(50_000, 10, 10)
    await runtime.gather(agent, ["0", "0"], max_concurrency=2)

    assert seen == [700, 700, 0, 0, 50_000, 50_000]
    assert gc.get_threshold() == (50_000, 10, 10)


@pytest.mark.parametrize("theirs", [(3000, 20, 20), (DEFAULT_FANOUT_THRESHOLD, 20, 20)])
async def test_a_change_made_during_the_fan_out_is_kept(
    runtime: AgentRuntime, theirs: tuple[int, int, int]
) -> None:
    """Whoever set the thresholds while the fan-out ran (any of the three), theirs stay."""

    async def user_code() -> None:
        await asyncio.sleep(0.01)
        gc.set_threshold(*theirs)

    await asyncio.gather(runtime.gather(agent, ["0.03"] * 2, max_concurrency=2), user_code())

    assert gc.get_threshold() == theirs


async def test_cyclic_garbage_is_still_collected_during_a_fan_out() -> None:
    """A cycle dropped while a fan-out runs is freed by a young scan before the fan-out ends."""

    class Node:
        def __init__(self) -> None:
            self.me = self

    async def churn(index: int, item: int) -> int:
        kept = [[[] for _ in range(1000)] for _ in range(DEFAULT_FANOUT_THRESHOLD // 1000)]
        await asyncio.sleep(0)
        return len(kept)

    async def watch(index: int, item: int) -> bool:
        if item == 1:
            return True
        cycle = Node()
        gone = weakref.ref(cycle)
        del cycle
        await bounded_map([0, 1], churn, 2)  # allocates past the raised threshold
        return gone() is None

    assert await bounded_map([0, 1], watch, 2) == [True, True]


def test_fan_outs_in_two_threads_share_one_count(thresholds: tuple[int, int, int]) -> None:
    """Two event loops in two threads: raised while either runs, put back after both."""
    inside = threading.Barrier(2)
    during: list[int] = []

    async def call(index: int, item: int) -> int:
        if index == 0:
            await asyncio.to_thread(inside.wait, 5)
            during.append(gc.get_threshold()[0])
        return item

    def fan_out() -> None:
        asyncio.run(bounded_map([0, 1], call, 2))

    threads = [threading.Thread(target=fan_out) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert during == [DEFAULT_FANOUT_THRESHOLD] * 2
    assert gc.get_threshold() == thresholds


@pytest.mark.parametrize(("concurrency", "expected"), [(4, DEFAULT_FANOUT_THRESHOLD), (1, 700)])
async def test_a_worker_serving_several_runs_at_once_is_a_fan_out(
    thresholds: tuple[int, int, int], concurrency: int, expected: int
) -> None:
    """Raised while a Worker with concurrency > 1 serves; put back when it stops."""
    url = f"memory://collector-{uuid.uuid4().hex}"
    worker = Worker(url, {"recorder": agent}, concurrency=concurrency)
    serving = asyncio.create_task(worker.start())
    await worker.wait_ready()
    try:
        assert gc.get_threshold()[0] == expected
        async with AgentRuntime(broker=url, event_emitter=NullEventEmitter()) as caller:
            # Not a gather: the caller's own fan-out would raise it in this process too.
            results = [await caller.run(agent, prompt) for prompt in ("0", "0.01")]
        assert all(result.is_ok() for result in results)
        assert seen == [expected, expected]
    finally:
        await worker.stop()
        await serving
    assert gc.get_threshold() == thresholds

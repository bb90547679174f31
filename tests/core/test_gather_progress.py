"""Gather progress: results as they complete, the on_progress callback, the `murmur run` bar."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, GatherProgress
from murmur.core.errors import SpawnError
from murmur.events import NullEventEmitter
from murmur.execution._progress import observe_gathers

from ._models import last_prompt

DELAYS = [0.12, 0.02, 0.07, 0.0]
"""Task i's model call sleeps DELAYS[i]: they finish in the order 3, 1, 2, 0."""


async def sleepy(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Sleeps as long as the prompt says; a prompt of "fail" fails the run."""
    prompt = last_prompt(messages)
    if prompt == "fail":
        raise RuntimeError("the model refused")
    await asyncio.sleep(float(prompt))
    return ModelResponse(parts=[TextPart("slept " + prompt)])


sleeper = Agent(name="sleeper", model=FunctionModel(sleepy))


@pytest.fixture
async def runtime() -> AsyncIterator[AgentRuntime]:
    async with AgentRuntime(event_emitter=NullEventEmitter()) as rt:
        yield rt


def other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_as_completed_yields_results_in_the_order_they_finish(
    runtime: AgentRuntime,
) -> None:
    """The fastest task comes first, whatever its position; each index once."""
    order = [i async for i, _ in runtime.as_completed(sleeper, [str(d) for d in DELAYS])]

    assert order == [3, 1, 2, 0]


async def test_as_completed_results_match_the_gathered_ones(runtime: AgentRuntime) -> None:
    """The same task gives the same output through gather and as_completed."""
    tasks = [str(d) for d in DELAYS]
    gathered = await runtime.gather(sleeper, tasks, max_concurrency=2)
    streamed = dict([pair async for pair in runtime.as_completed(sleeper, tasks)])

    assert [r.output for r in gathered] == [streamed[i].output for i in range(len(tasks))]
    assert ["slept " + t for t in tasks] == [r.output for r in gathered]


async def test_on_progress_counts_every_task_and_every_failure(runtime: AgentRuntime) -> None:
    """The callback sees done climb to total, failures counted, the result of each index."""
    seen: list[GatherProgress[str]] = []

    results = await runtime.gather(sleeper, ["0.02", "fail", "0.0"], on_progress=seen.append)

    assert [p.done for p in seen] == [1, 2, 3]
    assert {3} == {p.total for p in seen}
    assert (seen[-1].failed, seen[-1].succeeded) == (1, 2)
    assert {p.index: p.result.is_ok() for p in seen} == {0: True, 1: False, 2: True}
    assert [r.is_ok() for r in results] == [True, False, True]  # a failure is a result


async def test_an_async_progress_callback_is_awaited(runtime: AgentRuntime) -> None:
    """An async on_progress runs to completion for each task before the next is reported."""
    seen: list[int] = []

    async def record(progress: GatherProgress[str]) -> None:
        await asyncio.sleep(0)
        seen.append(progress.done)

    async for _ in runtime.as_completed(sleeper, ["0", "0", "0"], on_progress=record):
        pass

    assert seen == [1, 2, 3]


async def test_cancelling_the_consumer_cancels_the_runs_in_flight(
    runtime: AgentRuntime,
) -> None:
    """A consumer cancelled mid-batch leaves no run behind."""
    first = asyncio.Event()
    before = other_tasks()

    async def consume() -> None:
        async for _ in runtime.as_completed(sleeper, ["0", "5", "5", "5"], max_concurrency=4):
            first.set()

    consumer = asyncio.create_task(consume())
    await first.wait()
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer

    assert set() == other_tasks() - before


async def test_breaking_out_of_a_closed_iterator_cancels_the_rest(runtime: AgentRuntime) -> None:
    """With aclosing, a break stops the runs still in flight at once."""
    before = other_tasks()
    async with aclosing(runtime.as_completed(sleeper, ["0", "5", "5"])) as results:
        async for _ in results:
            break

    assert set() == other_tasks() - before


async def test_a_failing_callback_stops_the_gather_and_propagates(runtime: AgentRuntime) -> None:
    """An exception in on_progress is the caller's own: it leaves gather, runs cancelled."""
    before = other_tasks()

    def explode(progress: GatherProgress[str]) -> None:
        raise ValueError("progress display broke")

    with pytest.raises(ValueError, match="display broke"):
        await runtime.gather(sleeper, ["0", "5"], on_progress=explode)
    assert set() == other_tasks() - before


async def test_as_completed_checks_its_options_before_running(runtime: AgentRuntime) -> None:
    """Bad options raise at the call, with what to do, before any task runs."""
    with pytest.raises(SpawnError, match="needs a store"):
        runtime.as_completed(sleeper, ["0"], run_id="batch-1")
    with pytest.raises(SpawnError, match=">= 1"):
        runtime.as_completed(sleeper, ["0"], max_concurrency=-1)


async def test_a_durable_batch_streams_and_resumes() -> None:
    """With a store, as_completed records the batch; stopped early, a resume runs the rest."""
    async with AgentRuntime(event_emitter=NullEventEmitter(), store="memory://") as rt:
        rt.register(sleeper)
        async with aclosing(rt.as_completed(sleeper, ["0", "5"], run_id="b1")) as results:
            async for index, result in results:
                assert (index, result.output) == (0, "slept 0")
                break
        record = await rt.stores.runs.get("b1") if rt.stores else None
        assert record is not None
        assert record.status == "running"

        seen: list[GatherProgress[str]] = []
        resumed = await rt.gather(sleeper, ["0", "0"], run_id="b1", on_progress=seen.append)

    assert [r.output for r in resumed] == ["slept 0", "slept 0"]
    assert [p.done for p in seen] == [1, 2]


class Recorder:
    """A GatherObserver that writes down what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def started(self, key: object, agent_name: str, total: int) -> None:
        self.calls.append(("started", (agent_name, total)))

    def progressed(self, key: object, progress: GatherProgress[object]) -> None:
        self.calls.append(("progressed", progress.done))

    def finished(self, key: object) -> None:
        self.calls.append(("finished", None))


async def test_an_observer_sees_each_top_level_gather_from_start_to_end(
    runtime: AgentRuntime,
) -> None:
    """What `murmur run`'s bar is fed: start with the total, each task, the end; an empty
    gather shows nothing."""
    recorder = Recorder()
    with observe_gathers(recorder):
        await runtime.gather(sleeper, ["0", "0"])
        await runtime.gather(sleeper, [])

    assert recorder.calls == [
        ("started", ("sleeper", 2)),
        ("progressed", 1),
        ("progressed", 2),
        ("finished", None),
    ]


# -- murmur run's bar --------------------------------------------------------------------

SCRIPT = """
import asyncio
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel
from murmur import Agent, AgentRuntime
from murmur.events import NullEventEmitter

async def slow(messages, info):
    await asyncio.sleep(0.01)
    return ModelResponse(parts=[TextPart("ok")])

async def main():
    async with AgentRuntime(event_emitter=NullEventEmitter()) as rt:
        results = await rt.gather(Agent(name="painter", model=FunctionModel(slow)), list("abcd"))
        print("finished", len(results))

asyncio.run(main())
"""


def murmur_run(script: Path, *, terminal: bool) -> str:
    """`murmur run script` in a subprocess, its stderr on a pseudo-terminal or a pipe."""
    command = [sys.executable, "-m", "murmur.cli", "run", str(script)]
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    if not terminal:
        proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout + proc.stderr
    import pty

    main, secondary = pty.openpty()
    proc = subprocess.Popen(command, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert proc.wait(timeout=60) == 0, b"".join(chunks)
    return b"".join(chunks).decode()


def test_murmur_run_draws_a_bar_for_gathers_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal, the gather's bar reaches 4/4 and the script's output is intact."""
    script = tmp_path / "paint.py"
    script.write_text(SCRIPT)

    output = murmur_run(script, terminal=True)

    assert "painter [########################] 4/4" in output
    assert "finished 4" in output


def test_murmur_run_draws_no_bar_into_a_pipe(tmp_path: Path) -> None:
    """Piped, the output is the script's own and nothing else."""
    script = tmp_path / "paint.py"
    script.write_text(SCRIPT)

    assert murmur_run(script, terminal=False) == "finished 4\n"


def test_the_runtime_page_example_runs() -> None:
    """docs/runtime.md's as_completed example runs and prints what the page describes."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "runtime.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", page, re.S) if "as_completed" in b)
    proc = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert "3/3 done, 0 failed" in proc.stdout
    assert "[True, True, True]" in proc.stdout

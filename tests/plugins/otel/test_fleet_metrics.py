"""murmur's fleet metrics on a memory:// fleet: workers alive, tasks in flight, rejected
envelopes, and budget hits and spawns, read from the SDK's in-memory metric reader."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, RuntimeOptions, TaskSpec, TokenBudget
from murmur.transport import MemoryTransport
from murmur.worker import Worker

sys.path.insert(0, str(Path(__file__).parent))

from _agents import answers, calls_then_answers
from conftest import Telemetry


async def _until(check: Callable[[], bool], what: str, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def _value(telemetry: Telemetry, metric: str) -> float | None:
    points = telemetry.points(metric)
    return points[-1].value if points else None


async def test_workers_alive_and_in_flight_come_from_heartbeats(telemetry: Telemetry) -> None:
    """A worker's heartbeats make it count in murmur.fleet.workers, with its tasks in flight;
    a stopped worker no longer counts."""
    release = asyncio.Event()

    async def parked(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await release.wait()
        return ModelResponse(parts=[TextPart("done")])

    url = f"memory://otel-beat-{uuid.uuid4().hex}"
    worker = Worker(
        url,
        [Agent(name="slow", model=FunctionModel(parked))],
        heartbeat_interval=0.05,
        event_emitter=telemetry.emitter,
    )
    serving = asyncio.create_task(worker.start())
    await worker.wait_ready()
    async with AgentRuntime(broker=url, event_emitter=telemetry.emitter) as caller:
        running = asyncio.create_task(caller.gather(Agent(name="slow", model="test"), ["a", "b"]))
        await _until(lambda: _value(telemetry, "murmur.fleet.in_flight") == 2, "2 in flight")
        assert _value(telemetry, "murmur.fleet.workers") == 1
        release.set()
        assert all(r.is_ok() for r in await running)
    await worker.stop()
    await serving
    assert _value(telemetry, "murmur.fleet.workers") == 0


async def test_rejected_envelopes_are_counted_by_reason(telemetry: Telemetry) -> None:
    """Frames a worker refuses count in murmur.envelopes.rejected, by reason."""
    url = f"memory://otel-reject-{uuid.uuid4().hex}"
    worker = Worker(url, [Agent(name="guarded", model="test")], event_emitter=telemetry.emitter)
    serving = asyncio.create_task(worker.start())
    await worker.wait_ready()
    transport = MemoryTransport(url)
    await transport.connect()
    for frame in (b"not json", b"{}", b"[1, 2]"):
        await transport.publish_task("guarded", frame)
    await _until(lambda: worker.stats.rejected == 3, "3 rejections")
    await worker.stop()
    await serving
    await transport.close()
    (rejected,) = telemetry.points("murmur.envelopes.rejected")
    assert (dict(rejected.attributes), rejected.value) == ({"murmur.reason": "malformed"}, 3)


async def test_budget_hits_and_spawns_are_counted(telemetry: Telemetry) -> None:
    """A run stopped by its budget counts in murmur.budget.exceeded; a run started by a
    tool of another run counts as a spawn."""
    runtime = AgentRuntime(RuntimeOptions(), event_emitter=telemetry.emitter)
    starved = await runtime.run(
        Agent(name="hungry", model=answers("a long answer " * 50)),
        TaskSpec(input="x", token_budget=TokenBudget(limit=1)),
    )
    assert starved.error is not None
    assert starved.error.code in {"budget_exceeded", "usage_limit"}
    (budget,) = telemetry.points("murmur.budget.exceeded")
    assert budget.attributes["gen_ai.agent.name"] == "hungry"

    child = Agent(name="helper", model=answers())

    async def ask_helper() -> str:
        result = await runtime.run(child, "help")
        return str(result.output)

    runtime.tools.register("ask_helper", ask_helper)
    parent = Agent(name="lead", model=calls_then_answers("ask_helper", {}), tools=("ask_helper",))
    assert (await runtime.run(parent, "go")).is_ok()
    (spawns,) = telemetry.points("murmur.spawns")
    assert (dict(spawns.attributes), spawns.value) == (
        {"gen_ai.agent.name": "helper", "murmur.outcome": "started"},
        1,
    )

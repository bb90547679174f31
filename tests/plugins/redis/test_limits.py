"""Fleet-wide limits on the real Redis: a token budget and a concurrency/rate limiter
shared by several worker processes."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from murmur_redis import RedisConcurrencyLimiter, RedisTokenBudget
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from murmur import Agent, AgentRuntime, RuntimeOptions, TaskSpec, TokenBudget
from murmur.core.errors import BudgetExceededError, RegistryError, SpawnError
from murmur.events import NullEventEmitter
from murmur.testing import require_service

HOST, PORT = "127.0.0.1", 6379
URL = f"redis://{HOST}:{PORT}/0"
SCRIPT = Path(__file__).with_name("_limits_script.py")


@pytest.fixture
async def key() -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    require_service("Redis", HOST, PORT)
    value = f"murmur-test:limits:{uuid.uuid4().hex}"
    yield value
    from redis.asyncio import from_url

    client = from_url(URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"*{value}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _redis_get(name: str) -> Any:
    from redis.asyncio import from_url

    client = from_url(URL)
    try:
        return await client.get(name)
    finally:
        await client.aclose()


def _workers(mode: str, key: str, tasks: int, param: float) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), mode, key, str(tasks), str(param)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=110)
        assert proc.returncode == 0, err[-2000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def _hold_then_die(key: str, *, lease_seconds: float) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "hold", key, "0", str(lease_seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held", proc.communicate()[1][-2000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def _tokens_model(tokens: int = 100) -> FunctionModel:
    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(0.01)
        usage = RequestUsage(input_tokens=tokens // 2, output_tokens=tokens - tokens // 2)
        return ModelResponse(parts=[TextPart("ok")], usage=usage)

    return FunctionModel(respond)


# -- the shared token budget ---------------------------------------------------------------


async def test_two_worker_processes_overspend_a_shared_budget_by_at_most_their_in_flight_runs(
    key: str,
) -> None:
    """2 processes x concurrency 10 share one RedisTokenBudget: spend <= limit + 20 runs."""
    limit, per_run, in_flight = 3_000, 100, 2 * 10
    outputs = _workers("budget", key, 60, limit)

    budget = RedisTokenBudget(limit, key=key, url=URL)
    spent, _ = await budget.spent()
    await budget.aclose()
    ok = sum(o["ok"] for o in outputs)
    assert limit <= spent <= limit + in_flight * per_run
    assert ok <= limit // per_run  # a run that went over the ceiling is never a success
    assert sum(o["ok_tokens"] for o in outputs) == ok * per_run <= spent
    assert {e for o in outputs for e in o["errors"]} <= {
        "BudgetExceededError:budget_exceeded",
        "BudgetExceededError:usage_limit",
    }


async def test_concurrent_charges_are_never_lost(key: str) -> None:
    """Two budget objects on one key, 200 concurrent charges: every token is counted."""
    first, second = RedisTokenBudget(None, key=key), RedisTokenBudget(None, key=key)
    await asyncio.gather(*(b.charge(3, 0.5) for _ in range(100) for b in (first, second)))
    assert await first.spent() == (600, 100.0)
    assert await second.remaining() is None
    await first.aclose()
    await second.aclose()


async def test_a_spent_budget_refuses_new_runs_in_every_runtime(key: str) -> None:
    """Once one runtime spends the shared budget, a run in another runtime is refused."""
    budget_a = RedisTokenBudget(150, key=key)
    budget_b = RedisTokenBudget(150, key=key)
    agent = Agent(name="spender", model=_tokens_model(100))
    a = AgentRuntime(RuntimeOptions(token_budget=budget_a), event_emitter=NullEventEmitter())
    b = AgentRuntime(RuntimeOptions(token_budget=budget_b), event_emitter=NullEventEmitter())
    assert (await a.run(agent, "x")).is_ok()
    assert await budget_b.remaining() == 50
    second = await b.run(agent, "y")  # limited to the 50 left: stopped mid-run
    assert isinstance(second.error, BudgetExceededError)
    third = await a.run(agent, "z")
    assert isinstance(third.error, BudgetExceededError)
    assert third.error.details["used"] >= 150
    await budget_a.reset()
    assert await budget_b.remaining() == 150
    for closing in (a, b, budget_a, budget_b):
        await closing.aclose()


async def test_a_budget_can_expire_per_period(key: str) -> None:
    """ttl_seconds makes the shared spend expire, starting a new period."""
    budget = RedisTokenBudget(100, key=key, ttl_seconds=0.2)
    await budget.charge(100)
    with pytest.raises(BudgetExceededError):
        await budget.check()
    for _ in range(100):
        if await budget.remaining() == 100:
            break
        await asyncio.sleep(0.05)
    assert await budget.remaining() == 100
    await budget.aclose()


async def test_an_unreachable_budget_refuses_the_run_with_a_typed_error() -> None:
    """A budget whose Redis is down fails the run (code budget_unavailable), never unmetered."""
    budget = RedisTokenBudget(100, key="unused", url="redis://127.0.0.1:1/0", timeout=1.0)
    with pytest.raises(RegistryError) as info:
        await budget.check()
    assert info.value.code == "budget_unavailable"
    assert "127.0.0.1:1" in info.value.message


# -- the concurrency and rate limiter --------------------------------------------------------


async def test_two_processes_never_run_more_requests_at_once_than_the_shared_cap(
    key: str,
) -> None:
    """2 processes x concurrency 10 behind RedisConcurrencyLimiter(3): at most 3 in flight."""
    outputs = _workers("limiter", key, 30, 3)
    peak = int(await _redis_get(f"{key}:peak") or 0)
    assert [o["ok"] for o in outputs] == [30, 30]
    assert 2 <= peak <= 3
    limiter = RedisConcurrencyLimiter(3, key=key)
    assert await limiter.running_count() == 0  # every lease was given back
    await limiter.aclose()


async def test_a_crashed_holders_slot_expires_after_its_lease(key: str) -> None:
    """A process SIGKILLed while holding the only slot frees it after lease_seconds."""
    _hold_then_die(key, lease_seconds=1.0)
    limiter = RedisConcurrencyLimiter(1, key=key, acquire_timeout=0.2)
    with pytest.raises(SpawnError) as info:
        await limiter.acquire("test")  # the dead process's lease is still live
    assert info.value.code == "limiter_timeout"
    patient = RedisConcurrencyLimiter(1, key=key, acquire_timeout=10)
    await patient.acquire("test")
    assert await patient.running_count() == 1
    patient.release()
    await patient.aclose()
    assert await limiter.running_count() == 0
    await limiter.aclose()


async def test_a_slot_is_released_from_another_task_and_renewed_while_held(key: str) -> None:
    """release() works on any task; a held slot outlives its lease because it is renewed."""
    limiter = RedisConcurrencyLimiter(1, key=key, lease_seconds=0.3, acquire_timeout=0.1)
    await limiter.acquire("holder")
    await asyncio.sleep(0.6)  # two lease lengths: only renewal keeps it
    other = RedisConcurrencyLimiter(1, key=key, acquire_timeout=0.1)
    with pytest.raises(SpawnError):
        await other.acquire("other")
    await asyncio.create_task(_release(limiter))
    await other.acquire("other")  # waits at most acquire_timeout for the background free
    other.release()
    await other.aclose()
    await limiter.aclose()


async def _release(limiter: RedisConcurrencyLimiter) -> None:
    limiter.release()
    await asyncio.sleep(0.05)


async def test_requests_per_window_are_capped_across_limiters(key: str) -> None:
    """requests_per_minute (here per 1 s window) admits at most N requests per window."""
    limiters = [
        RedisConcurrencyLimiter(
            requests_per_minute=3, window_seconds=1.0, key=key, acquire_timeout=10
        )
        for _ in range(2)
    ]
    loop = asyncio.get_running_loop()
    admitted: list[float] = []

    async def one(i: int) -> None:
        limiter = limiters[i % 2]
        await limiter.acquire("rate")
        admitted.append(loop.time())
        limiter.release()

    await asyncio.gather(*(one(i) for i in range(7)))
    admitted.sort()
    assert all(admitted[i + 3] - admitted[i] >= 0.9 for i in range(len(admitted) - 3))
    for limiter in limiters:
        await limiter.aclose()


async def test_recorded_tokens_hold_back_requests_until_the_window_frees(key: str) -> None:
    """tokens_per_minute: runs feed their tokens via recorder(); a full window waits."""
    from redis.asyncio import from_url

    limiter = RedisConcurrencyLimiter(
        tokens_per_minute=150, window_seconds=2.0, key=key, acquire_timeout=0.2
    )
    agent = Agent(name="t", model=_tokens_model(100), model_concurrency_limiter=limiter)
    runtime = AgentRuntime(event_emitter=NullEventEmitter(), middleware=[limiter.recorder()])
    assert (await runtime.run(agent, "a")).is_ok()
    client = from_url(URL)
    recorded = cast("list[bytes]", await client.zrange(f"{{{key}}}:tokens", 0, -1))
    await client.aclose()
    assert [entry.split(b":")[1] for entry in recorded] == [b"100"]
    await limiter.record_tokens(100)  # 200 in the window >= 150
    blocked = await runtime.run(agent, "b")
    assert isinstance(blocked.error, SpawnError)
    assert blocked.error.code == "limiter_timeout"
    patient = RedisConcurrencyLimiter(
        tokens_per_minute=150, window_seconds=2.0, key=key, acquire_timeout=10
    )
    await patient.acquire("later")  # admitted once the window slides
    patient.release()
    await runtime.aclose()
    await limiter.aclose()
    await patient.aclose()


def test_limits_reject_nonsense_settings() -> None:
    """Zero or negative limits fail at construction with a message saying what to fix."""
    with pytest.raises(SpawnError, match="max_running must be >= 1"):
        RedisConcurrencyLimiter(0)
    with pytest.raises(SpawnError, match="must be > 0"):
        RedisConcurrencyLimiter(1, lease_seconds=0)
    with pytest.raises(BudgetExceededError):
        RedisTokenBudget(10, ttl_seconds=0)


def test_the_fleet_limits_docs_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example of docs/fleet-limits.md runs against the real Redis."""
    import runpy

    import murmur_redis

    require_service("Redis", HOST, PORT)
    if not hasattr(murmur_redis, "RedisTokenBudget"):
        pytest.skip("murmur_redis does not re-export RedisTokenBudget/RedisConcurrencyLimiter yet")
    page = Path(__file__).resolve().parents[3] / "docs" / "fleet-limits.md"
    example = page.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "example.py"
    script.write_text(example)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert out.startswith("10 runs succeeded, fleet-wide spend ")
    assert 1_000 <= int(out.split()[-2]) <= 1_900


# -- nested budgets ------------------------------------------------------------------------

_LAYERS = ("task", "runtime", "fleet")
_NESTINGS = [
    (present, tight)
    for size in (1, 2, 3)
    for present in itertools.combinations(_LAYERS, size)
    for tight in (*present, None)
]


def _parent_model() -> FunctionModel:
    """Calls the `spawn` tool once, then answers; spends 1 token per request (2 in all)."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(
                parts=[ToolCallPart("spawn", {})], usage=RequestUsage(input_tokens=1)
            )
        return ModelResponse(parts=[TextPart("done")], usage=RequestUsage(input_tokens=1))

    return FunctionModel(respond)


@pytest.mark.parametrize(("present", "tight"), _NESTINGS)
async def test_nested_budgets_are_charged_what_the_run_used(
    key: str, present: tuple[str, ...], tight: str | None
) -> None:
    """A run using 100 tokens under a task budget inside a runtime budget inside a fleet
    budget (every combination, each one the tight one in turn): a 10-token budget stops
    it with usage_limit, and every budget is charged exactly the 100 tokens it used (plus
    the parent's 2 for the runtime and fleet budgets the parent run is charged to), never
    a parent's remainder."""
    limits = {layer: 10 if layer == tight else 100_000 for layer in present}
    task = TokenBudget(limits["task"], name="task") if "task" in present else None
    runtime_budget = (
        TokenBudget(limits["runtime"], name="runtime") if "runtime" in present else None
    )
    fleet = RedisTokenBudget(limits["fleet"], key=key, url=URL) if "fleet" in present else None
    runtime = AgentRuntime(
        RuntimeOptions(token_budget=runtime_budget), event_emitter=NullEventEmitter()
    )
    child = Agent(name="child", model=_tokens_model(100))
    codes: list[str] = []

    @runtime.tools.register("spawn")
    async def spawn() -> str:
        result = await runtime.run(child, TaskSpec(input="work", token_budget=task))
        codes.append("ok" if result.error is None else result.error.code)
        return codes[-1]

    parent = Agent(name="parent", model=_parent_model(), tools=("spawn",))
    outcome = await runtime.run(parent, TaskSpec(input="go", token_budget=fleet))
    assert codes == (["usage_limit"] if tight is not None else ["ok"])
    # The parent shares the runtime and fleet budgets: when one of those is the tight one,
    # the child's 100 tokens already went over it, so the parent's own charge fails too.
    parent_code = "ok" if outcome.error is None else outcome.error.code
    assert parent_code == ("budget_exceeded" if tight in ("runtime", "fleet") else "ok")
    used = {}
    if task is not None:
        used["task"] = task.used
    if runtime_budget is not None:
        used["runtime"] = runtime_budget.used
    if fleet is not None:
        used["fleet"] = (await fleet.spent())[0]
        await fleet.aclose()
    assert used == {layer: 100 if layer == "task" else 102 for layer in present}
    await runtime.aclose()

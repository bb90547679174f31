"""Agent processes on a Redis fleet: control flow here, agent turns on worker processes."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from murmur import AgentRuntime, RuntimeOptions
from murmur.processes import agent, agent_process, done, use_runtime, wait, worker_pool
from murmur.testing import require_service
from murmur.testing.fleet_processes import (
    Doubled,
    Number,
    ProcessFleetFixtures,
    StartWorker,
    doubler,
    until,
)

pytestmark = pytest.mark.services

HOST, PORT = "127.0.0.1", 6379


@agent_process
async def double(n: int) -> int:
    """One child per number: its agent's turn runs on whichever worker takes it."""
    worker = await agent("doubler", spec=doubler)
    out = await worker.send(Number(n=n))
    assert isinstance(out, Doubled)
    done(out.doubled)
    return await wait()


@agent_process
async def supervisor(numbers: list[int]) -> int:
    results = await worker_pool(double, numbers, concurrency=len(numbers))
    assert all(isinstance(r, int) for r in results), results
    return sum(results)


class TestProcessesOnARedisFleet(ProcessFleetFixtures):
    """A supervisor process whose agents' turns run on 2 `murmur worker start` processes."""

    @pytest.fixture
    def broker_url(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        import redis

        require_service("Redis", HOST, PORT)
        home = tempfile.mkdtemp(prefix="mh-", dir="/tmp")
        monkeypatch.setenv("MURMUR_HOME", home)
        namespace = f"test-{uuid.uuid4().hex}"
        yield f"redis://{HOST}:{PORT}/0?namespace={namespace}"
        client = redis.Redis(host=HOST, port=PORT, db=0)
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()
        shutil.rmtree(home, ignore_errors=True)

    async def test_a_worker_killed_mid_turn_does_not_change_the_process_result(
        self, start_worker: StartWorker, caller: Callable[..., AgentRuntime], executions: Any
    ) -> None:
        """SIGKILL the worker running a turn: the turn completes on the other worker and
        the supervisor process returns the right sum."""
        window = ["--reclaim-min-idle-ms", "1000"]
        doomed, survivor = await asyncio.gather(
            start_worker(*window, delay_s=5.0, concurrency=2),
            start_worker(*window, delay_s=0.05, concurrency=8),
        )
        runtime = caller(RuntimeOptions(timeout_seconds=60))
        numbers = list(range(1, 7))
        with use_runtime(runtime):  # the task copies this context: its root uses runtime
            running = asyncio.create_task(supervisor(numbers))
        await until(lambda: any(p == doomed.pid for p, _ in executions.read()), 30, "a doomed turn")
        doomed.send_signal(signal.SIGKILL)
        await asyncio.wait_for(doomed.wait(), 10)
        assert await asyncio.wait_for(running, 60) == 2 * sum(numbers)
        ran = executions.read()
        abandoned = {n for p, n in ran if p == doomed.pid}
        assert abandoned  # the killed worker was mid-turn on these...
        assert abandoned <= {n for p, n in ran if p == survivor.pid}  # ...the survivor ran them

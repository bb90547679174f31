"""Run/event store benchmarks, reported as ratios against a baseline in the same run.

    uv run python benchmarks/stores.py [--events 20000] [--tasks 200] [--blocks 5]

1. event append throughput per store: `append` one event at a time (the stores buffer and
   write in batches) and `append_many` in batches of 500, until every event is durable
   (flushed), in events/s;
2. recording overhead: a `gather` of FunctionModel runs (max_concurrency=20) with
   `store=` each store vs no store, in interleaved blocks (none, store, none, store, ...)
   so machine noise hits both sides alike; reported as the median ratio with/without of
   wall time and of this process's CPU time (less sensitive to other load on the machine;
   it leaves out the Redis server's own CPU). With a store, `gather` is a durable batch:
   the ratio includes its run record and one checkpoint per task.

Redis is included when 127.0.0.1:6379 answers (keys under a random prefix, deleted after).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime
from murmur.events import EventType, NullEventEmitter, RuntimeEvent
from murmur.runs import Stores

REDIS = "redis://127.0.0.1:6379/0"


def _reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("ok")])


MODEL = FunctionModel(_reply)


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def store_urls(workdir: Path) -> dict[str, Callable[[], str]]:
    """Store name -> a function giving a fresh, empty store URL."""
    counter = iter(range(1_000_000))
    urls: dict[str, Callable[[], str]] = {
        "memory": lambda: "memory://",
        "sqlite": lambda: f"sqlite:///{workdir}/s{next(counter)}.db",
        "rocksdb": lambda: f"rocksdb:///{workdir}/r{next(counter)}",
    }
    if _redis_up():
        urls["redis"] = lambda: f"{REDIS}?prefix=murmur-bench:{uuid.uuid4().hex}:"
    return urls


def _events(n: int) -> list[RuntimeEvent]:
    return [
        RuntimeEvent(
            event_type=EventType.AGENT_COMPLETED if i % 2 else EventType.AGENT_SPAWNED,
            agent_name=f"agent{i % 8}",
            task_id=f"task{i}",
            trace_id=f"trace{i // 2}",
            parent_trace_id=f"trace{i // 20}" if i >= 20 else None,
            payload={"duration_ms": 1.5, "model": "test", "input_tokens": 10, "i": i},
        )
        for i in range(n)
    ]


async def _durable(stores: Stores) -> None:
    """Wait until everything appended is written (buffered stores flush)."""
    flush = getattr(stores.events, "flush", None)
    if flush is not None:
        await flush()


async def _drop(url: str, stores: Stores) -> None:
    await stores.aclose()
    if url.startswith("redis"):
        from redis.asyncio import from_url

        prefix = url.split("prefix=", 1)[1]
        client = from_url(REDIS)
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=5000)]
        for start in range(0, len(keys), 5000):
            await client.delete(*keys[start : start + 5000])
        await client.aclose()


async def append_throughput(name: str, new_url: Callable[[], str], n: int) -> dict[str, float]:
    """Events/s for one-at-a-time appends and for append_many batches of 500."""
    from murmur.plugins import PluginHost

    host = PluginHost()
    out: dict[str, float] = {}
    events = _events(n)
    for mode in ("append", "append_many"):
        url = new_url()
        stores: Stores = host.resolve_store(url)
        await stores.events.append(events[0])  # open / connect outside the timing
        await _durable(stores)
        started = time.perf_counter()
        if mode == "append":
            for event in events[1:]:
                await stores.events.append(event)
        else:
            for start in range(1, n, 500):
                await stores.events.append_many(events[start : start + 500])
        await _durable(stores)
        elapsed = time.perf_counter() - started
        stored = len(await stores.events.query())
        assert stored == n, (name, mode, stored)
        out[mode] = (n - 1) / elapsed
        await _drop(url, stores)
    return out


async def _gather(runtime: AgentRuntime, agent: Agent[Any], tasks: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) to gather `tasks` runs and, with a
    store, to write everything out."""
    started, cpu = time.perf_counter(), time.process_time()
    results = await runtime.gather(agent, [f"q{i}" for i in range(tasks)], max_concurrency=20)
    if runtime.stores is not None:
        await _durable(runtime.stores)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert all(r.is_ok() for r in results)
    return elapsed, cpu


async def recording_overhead(
    new_url: Callable[[], str], tasks: int, blocks: int
) -> dict[str, float]:
    """Median ratio of gather time with the store to gather time without."""
    agent = Agent(name="bench", model=MODEL)
    url = new_url()
    plain = AgentRuntime(event_emitter=NullEventEmitter())
    recorded = AgentRuntime(event_emitter=NullEventEmitter(), store=url)
    assert recorded.stores is not None
    stores = recorded.stores
    await _gather(plain, agent, tasks)  # warm-up: pydantic-ai agent cache, store open
    await _gather(recorded, agent, tasks)
    ratios, cpu_ratios, without, with_store = [], [], [], []
    for _ in range(blocks):
        a, a_cpu = await _gather(plain, agent, tasks)
        b, b_cpu = await _gather(recorded, agent, tasks)
        without.append(a)
        with_store.append(b)
        ratios.append(b / a)
        cpu_ratios.append(b_cpu / a_cpu)
    runs = len(await stores.runs.list(kind="agent", limit=100_000))
    assert runs == tasks * (blocks + 1), runs
    await plain.aclose()
    await recorded.aclose()
    await _drop(url, stores)
    return {
        "ratio": statistics.median(ratios),
        "cpu_ratio": statistics.median(cpu_ratios),
        "without_ms_per_run": statistics.median(without) / tasks * 1000,
        "with_ms_per_run": statistics.median(with_store) / tasks * 1000,
    }


async def main(events: int, tasks: int, blocks: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        urls = store_urls(Path(tmp))
        print(f"event append throughput ({events} events, events/s)")
        print(f"{'store':10} {'append':>12} {'append_many':>12}")
        for name, new_url in urls.items():
            t = await append_throughput(name, new_url, events)
            print(f"{name:10} {t['append']:12,.0f} {t['append_many']:12,.0f}")
        print()
        print(f"recording overhead (gather of {tasks} FunctionModel runs, {blocks} blocks)")
        print(
            f"{'store':10} {'wall ratio':>10} {'cpu ratio':>10} {'ms/run without':>15} "
            f"{'ms/run with':>12}"
        )
        for name, new_url in urls.items():
            o = await recording_overhead(new_url, tasks, blocks)
            print(
                f"{name:10} {o['ratio']:10.3f} {o['cpu_ratio']:10.3f} "
                f"{o['without_ms_per_run']:15.3f} {o['with_ms_per_run']:12.3f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.tasks, args.blocks))

"""Run by `murmur.testing.store_restart` in a fresh interpreter.

Usage: `python -m murmur.testing._store_restart_child write|write-without-close|read URL [ROOT]`.

`write` runs a three-level agent tree (planner -> researcher -> fetcher, "test" model) and a
small gather through `AgentRuntime(store=url)`, saves a checkpoint, prints what the store
holds as JSON, runs one more child of the root, and exits (`write-without-close` exits
without closing the runtime). `read` opens the same URL in a new process and prints the same
JSON, so the scenario can compare the two.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from murmur.runs import EventQuery, Stores

__all__ = ["dump", "main", "read", "write"]


async def dump(stores: Stores, root: str) -> dict[str, Any]:
    """Everything the restart tests compare, as JSON-safe data."""
    runs = await stores.runs.list(limit=1000)
    root_run = await stores.runs.get(root)
    assert root_run is not None
    events = await stores.events.query(EventQuery())
    return {
        "root": root,
        "runs": [r.model_dump(mode="json") for r in runs],
        "root_run": root_run.model_dump(mode="json"),
        "children": sorted(r.run_id for r in await stores.runs.children(root)),
        "checkpoints": await stores.runs.checkpoints(root),
        "events": [e.model_dump(mode="json") for e in events],
        "tree": (await stores.events.tree(root)).to_dict(),
    }


async def write(url: str, *, close: bool = True) -> dict[str, Any]:
    """Record a three-level agent tree, a gather and a checkpoint; return what the store holds.

    Then record one more child run (closing the runtime only when `close`).
    """
    from murmur.agent import Agent
    from murmur.events import NullEventEmitter
    from murmur.runtime import AgentRuntime
    from murmur.types import TaskSpec

    runtime = AgentRuntime(store=url, event_emitter=NullEventEmitter())
    fetcher = Agent(name="fetcher", model="test")
    researcher = Agent(name="researcher", model="test", tools=("fetch",))
    planner = Agent(name="planner", model="test", tools=("delegate",))

    @runtime.tools.register("fetch")
    async def fetch(url: str) -> str:
        return str((await runtime.run(fetcher, TaskSpec(input=f"fetch {url}"))).output)

    @runtime.tools.register("delegate")
    async def delegate(question: str) -> str:
        return str((await runtime.run(researcher, TaskSpec(input=question))).output)

    result = await runtime.run(planner, TaskSpec(input="plan the research"))
    assert result.is_ok(), result.error
    results = await runtime.gather(fetcher, [f"page {i}" for i in range(5)])
    assert all(r.is_ok() for r in results)
    assert runtime.stores is not None
    await runtime.stores.runs.put_checkpoint(result.trace_id, "node:planner", {"done": True})
    snapshot = await dump(runtime.stores, result.trace_id)
    # the buffered writes of the last steps, never flushed unless closed
    await runtime.run(fetcher, TaskSpec(input="one more", parent_trace_id=result.trace_id))
    if close:
        await runtime.aclose()
    else:
        runtime_kept_open.append(runtime)
    return snapshot


async def read(url: str, root: str) -> dict[str, Any]:
    """What a new process reads from the store at `url`."""
    from murmur.plugins import PluginHost

    stores: Stores = PluginHost().resolve_store(url)
    try:
        return await dump(stores, root)
    finally:
        await stores.aclose()


runtime_kept_open: list[Any] = []


def main() -> None:
    """`write`, `write-without-close` or `read`, printing the JSON on the last line."""
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "read":
        data = asyncio.run(read(url, sys.argv[3]))
    else:
        data = asyncio.run(write(url, close=mode != "write-without-close"))
    print(json.dumps(data))


if __name__ == "__main__":
    main()

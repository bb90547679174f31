"""A store plugin alone on murmur-core: write (a run), close, reopen in a new process, read.

python store.py DISTRIBUTION URL
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

from _smoke import check, plugins_ok


async def write(url: str) -> str:
    from murmur import Agent, AgentRuntime, TaskSpec
    from murmur.events import NullEventEmitter

    async with AgentRuntime(store=url, event_emitter=NullEventEmitter()) as runtime:
        result = await runtime.run(Agent(name="echo", model="test"), TaskSpec(input="keep me"))
    check(result.is_ok(), f"a run with store={url}: {result.error}")
    return result.metadata.trace_id


async def read(url: str, trace_id: str) -> None:
    from murmur.plugins import PluginHost
    from murmur.runs import EventQuery

    stores = PluginHost().resolve_store(url)
    try:
        runs = await stores.runs.list(agent_name="echo")
        events = await stores.events.query(EventQuery(trace_id=trace_id))
    finally:
        await stores.aclose()
    check([r.status.value for r in runs if r.trace_id == trace_id] == ["completed"], f"{runs}")
    types = [e.event_type.value for e in events]
    check("agent_completed" in types, f"the run's events after reopening: {types}")


if sys.argv[1] == "read":
    asyncio.run(read(sys.argv[2], sys.argv[3]))
else:
    distribution, url = sys.argv[1], sys.argv[2]
    plugins_ok(distribution)
    trace_id = asyncio.run(write(url))
    subprocess.run([sys.executable, __file__, "read", url, trace_id], check=True, timeout=120)
    print(f"{distribution}: a run written, the store reopened in a new process, read back")

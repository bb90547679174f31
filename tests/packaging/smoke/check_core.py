"""murmur-core alone: a run and a gather offline, the CLI, and no plugin library anywhere."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys

from _smoke import PLUGIN_LIBRARIES, check, murmur, plugins_ok


async def main() -> None:
    from murmur import Agent, AgentRuntime, TaskSpec
    from murmur.events import CollectingEventEmitter

    events = CollectingEventEmitter()
    agent = Agent(name="echo", model="test")
    async with AgentRuntime(event_emitter=events) as runtime:
        one = await runtime.run(agent, TaskSpec(input="hello"))
        many = await runtime.gather(agent, tasks=[TaskSpec(input=str(i)) for i in range(5)])
    check(one.is_ok(), f"a run: {one.error}")
    check(all(r.is_ok() for r in many), "a gather of 5")
    check(len(events.events) >= 12, f"events: {len(events.events)}")


asyncio.run(main())

rows = plugins_ok()
check(set(rows) == {"murmur-core"}, f"only murmur-core is installed: {sorted(rows)}")
from murmur.plugins import PluginHost  # noqa: E402 - after the run: what the host imports

PluginHost().resolve_backend("memory://")
check("worker" in murmur("--help").stdout, "murmur --help lists the worker command")
# A plugin library may come in as a dependency of a dependency (pydantic-ai-slim brings
# some); what matters is that murmur never imports one: not to run, gather or list plugins.
imported = sorted(name for name in PLUGIN_LIBRARIES if name in sys.modules)
check(imported == [], f"murmur-core alone imported plugin libraries: {imported}")
installed = [n for n in PLUGIN_LIBRARIES if importlib.util.find_spec(n.split(".")[0]) is not None]
print("plugin libraries installed as dependencies of dependencies:", installed or "none")
light = subprocess.run(
    [sys.executable, "-c", "import sys, murmur; print(sorted(m for m in sys.modules "
     "if m.split('.')[0] in {'pydantic_ai', 'httpx', 'opentelemetry'}))"],
    capture_output=True, text=True, check=True,
)  # fmt: skip
check(light.stdout.strip() == "[]", f"import murmur stays light: {light.stdout}")
print("murmur-core: a run, a gather, the CLI; no plugin library imported")

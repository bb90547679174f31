"""The user's own line, `pip install murmur-core murmur-kafka murmur-otel`: both plugins
load side by side, and a run with the otel emitter works."""

from __future__ import annotations

import asyncio

from _smoke import check, plugins_ok

plugins_ok("murmur-kafka", "murmur-otel")


async def main() -> None:
    from murmur import Agent, AgentRuntime, TaskSpec
    from murmur.plugins import PluginHost

    host = PluginHost()
    check(host.resolve_backend("kafka://127.0.0.1:9092") is not None, "kafka:// resolves")
    async with AgentRuntime(event_emitter="otel") as runtime:
        result = await runtime.run(Agent(name="echo", model="test"), TaskSpec(input="hi"))
    check(result.is_ok(), f"a run with event_emitter='otel': {result.error}")


asyncio.run(main())
print("murmur-core + murmur-kafka + murmur-otel: compose")

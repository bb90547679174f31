"""murmur-mcp alone on murmur-core: an agent calls, through the trust gate, a tool served
by `murmur mcp serve` (murmur agents as MCP tools) in a subprocess: both sides in one."""

from __future__ import annotations

import asyncio
import sys

from _smoke import HERE, check, plugins_ok


async def main() -> None:
    from murmur_mcp import mcp_stdio

    from murmur import Agent, AgentRuntime, EventType, TaskSpec
    from murmur.events import CollectingEventEmitter

    served = mcp_stdio(
        "served",
        sys.executable,
        ["-m", "murmur.cli", "mcp", "serve", "--agents", "echo", "--app", "smoke_app:agents"],
        cwd=str(HERE),
    )
    caller = Agent(name="caller", model="test", mcp_servers=(served,), tools=("served.echo",))
    events = CollectingEventEmitter()
    async with AgentRuntime(event_emitter=events) as runtime:
        result = await runtime.run(caller, TaskSpec(input="call the tool"))
    check(result.is_ok(), f"a run calling an MCP tool: {result.error}")
    called = [e.payload.get("tool") for e in events.of_type(EventType.TOOL_CALL_COMPLETED)]
    check(called == ["served.echo"], f"tool calls: {called}")


plugins_ok("murmur-mcp")
asyncio.run(main())
print("murmur-mcp: an agent called a murmur agent served over MCP stdio")

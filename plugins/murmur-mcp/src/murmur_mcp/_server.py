"""Chosen murmur agents as MCP tools: the MCP SDK's low-level server, murmur's runtime.

Each exposed agent is one tool. Its input schema is the agent's `input_type` (or one string,
`input`), its output schema the `output_type` (a non-object output is wrapped as `result`),
a run's typed output comes back as structured content, a failed run is a tool error carrying
the murmur error code, and the run's events are progress notifications while it runs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from pydantic import BaseModel, TypeAdapter

from murmur import __version__
from murmur.agent import Agent
from murmur.core.errors import RegistryError
from murmur.events import EventEmitter, MultiEventEmitter, RuntimeEvent
from murmur.runtime import AgentRuntime
from murmur.types import TaskSpec

__all__ = ["ERROR_META_KEY", "ProgressRelay", "agent_tool", "create_mcp_server"]

ERROR_META_KEY = "murmur/error"
"""`_meta` key of a failed run's tool result: `{"type", "code", "message"}`."""

_STRING_INPUT = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The task for the agent."}},
    "required": ["input"],
}


def _wraps(agent: Agent[Any]) -> bool:
    """Whether the output is not an object and travels as `{"result": ...}`."""
    out = agent.output_type
    return not (isinstance(out, type) and issubclass(out, BaseModel))


def agent_tool(agent: Agent[Any]) -> types.Tool:
    """The MCP tool describing `agent`."""
    if agent.input_type is not None:
        input_schema = agent.input_type.model_json_schema()
    else:
        input_schema = _STRING_INPUT
    result_schema = TypeAdapter(agent.output_type).json_schema()
    output_schema = (
        {"type": "object", "properties": {"result": result_schema}, "required": ["result"]}
        if _wraps(agent)
        else result_schema
    )
    description = agent.description or agent.instructions.strip().split("\n\n")[0]
    return types.Tool(
        name=agent.name,
        description=description or f"Run the murmur agent {agent.name!r}.",
        input_schema=input_schema,
        output_schema=output_schema,
    )


class ProgressRelay:
    """An event emitter that hands each run's events to whoever waits for that run."""

    def __init__(self) -> None:
        self._waiting: dict[str, Callable[[RuntimeEvent], Any]] = {}

    def watch(self, task_id: str, callback: Callable[[RuntimeEvent], Any]) -> None:
        """Call `callback(event)` (sync or async) for every event of the run `task_id`."""
        self._waiting[task_id] = callback

    def forget(self, task_id: str) -> None:
        """Stop relaying the run's events."""
        self._waiting.pop(task_id, None)

    async def emit(self, event: RuntimeEvent) -> None:
        """Relay `event` to the request waiting for its run, if any."""
        callback = self._waiting.get(event.task_id)
        if callback is not None:
            outcome = callback(event)
            if asyncio.iscoroutine(outcome):
                await outcome


def _install_relay(runtime: AgentRuntime) -> ProgressRelay:
    relay = ProgressRelay()
    emitter: EventEmitter = runtime.event_emitter
    runtime.event_emitter = MultiEventEmitter([emitter, relay])
    return relay


def _select(runtime: AgentRuntime, agents: Iterable[str | Agent[Any]]) -> dict[str, Agent[Any]]:
    chosen: dict[str, Agent[Any]] = {}
    for item in agents:
        agent = item if isinstance(item, Agent) else runtime.get_agent(item)
        if isinstance(item, Agent) and agent.name not in runtime.agents:
            runtime.register(agent)
        chosen[agent.name] = agent
    if not chosen:
        raise RegistryError(
            "expose at least one agent as an MCP tool (--agents a,b); agents are never "
            "exposed unless named",
            code="invalid_options",
        )
    return chosen


def create_mcp_server(
    runtime: AgentRuntime,
    agents: Sequence[str | Agent[Any]],
    *,
    name: str = "murmur",
    instructions: str | None = None,
) -> Server[Any]:
    """An MCP server (the MCP SDK's `mcp.server.Server`) exposing `agents` as tools.

    Exposure is opt-in per agent: only the named agents become tools. Runs go through
    `runtime`, so on a broker runtime they run on the fleet.

    ```python
    server = create_mcp_server(runtime, ["researcher", "summariser"])
    ```

    Args:
        runtime: The runtime the agents run on (agents given as objects are registered).
        agents: Agents, or names of agents registered on `runtime`.
        name: The server name MCP clients see.
        instructions: Server instructions for MCP clients.

    Raises:
        RegistryError: A name is not registered, or no agent is given.
    """
    exposed = _select(runtime, agents)
    tools = [agent_tool(agent) for agent in exposed.values()]
    adapters = {name: TypeAdapter(agent.output_type) for name, agent in exposed.items()}
    relay = _install_relay(runtime)

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        agent = exposed.get(params.name)
        if agent is None:
            return _error_result(
                "RegistryError",
                "not_found",
                f"no tool named {params.name!r}; this server exposes {sorted(exposed)}",
            )
        arguments = dict(params.arguments or {})
        task_input: Any = arguments if agent.input_type is not None else arguments.get("input")
        spec = TaskSpec(input=task_input)
        step = 0

        async def progress(event: RuntimeEvent) -> None:
            nonlocal step
            step += 1
            await ctx.session.report_progress(step, None, _describe(event))

        relay.watch(spec.id, progress)
        try:
            result = await runtime.run(agent, spec)
        finally:
            relay.forget(spec.id)
        if result.error is not None:
            error = result.error
            return _error_result(type(error).__name__, error.code, error.message)
        value = adapters[agent.name].dump_python(result.output, mode="json")
        structured = {"result": value} if _wraps(agent) else value
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content=structured
        )

    return Server(
        name,
        version=__version__,
        instructions=instructions,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _error_result(kind: str, code: str, message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=f"[{code}] {kind}: {message}")],
        is_error=True,
        _meta={ERROR_META_KEY: {"type": kind, "code": code, "message": message}},
    )


def _describe(event: RuntimeEvent) -> str:
    tool = event.payload.get("tool")
    kind = event.event_type.value
    return f"{event.agent_name}: {kind}" + (f" ({tool})" if tool else "")

"""Interop with the libraries murmur builds on: adopt murmur one piece at a time.

- `from_pydantic_ai(pa_agent)`: a murmur `Agent` from an existing `pydantic_ai.Agent`.
- `as_faststream_handler(agent)`: a murmur agent as a FastStream subscriber handler.

This is the one public module that may touch PydanticAI and FastStream objects directly;
both are imported only when these functions are called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from murmur.agent import Agent
from murmur.core.errors import SpecValidationError
from murmur.types import TaskSpec

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from murmur.runtime import AgentRuntime

__all__ = ["as_faststream_handler", "from_pydantic_ai"]


def as_faststream_handler(
    agent: Agent[Any], runtime: AgentRuntime | None = None
) -> Callable[[Any], Awaitable[Any]]:
    """An async handler that runs `agent` on each message: typed input in, output out.

    The handler is annotated with the agent's `input_type` (or `str`) and `output_type`, so
    FastStream decodes and validates the message body into the input and serializes the
    returned output (for `@publisher(...)` or a request/reply). A failed run raises its
    `MurmurError`, so FastStream's own ack/nack policy applies.

    Args:
        agent: The agent to run.
        runtime: The runtime to run it on (default: one in-process `AgentRuntime`, created
            on the first message and reused).

    Example:
        ```python
        from faststream.redis import RedisBroker

        broker = RedisBroker("redis://localhost:6379")
        broker.subscriber("questions")(
            broker.publisher("answers")(as_faststream_handler(researcher))
        )
        ```
    """
    state: dict[str, AgentRuntime] = {}
    if runtime is not None:
        state["runtime"] = runtime

    async def handler(body: Any) -> Any:
        current = state.get("runtime")
        if current is None:
            from murmur.runtime import AgentRuntime

            current = state["runtime"] = AgentRuntime()
        result = await current.run(agent, TaskSpec(input=body))
        return result.output  # raises the run's MurmurError when it failed

    handler.__annotations__ = {
        "body": agent.input_type if agent.input_type is not None else str,
        "return": agent.output_type,
    }
    handler.__name__ = f"murmur_{agent.name.replace('-', '_')}"
    handler.__qualname__ = handler.__name__
    handler.__doc__ = agent.description or f"Run the murmur agent {agent.name!r}."
    return handler


def from_pydantic_ai(
    pa_agent: Any,
    *,
    name: str | None = None,
    runtime: AgentRuntime | None = None,
    **overrides: Any,
) -> Agent[Any]:
    """A murmur `Agent` with the model, instructions and output type of a `pydantic_ai.Agent`.

    Best effort: static instructions and system prompts are joined into `instructions`
    (instruction *functions* are not carried over); plain function tools (those that do not
    take a `RunContext`) are registered on `runtime.tools` when a runtime is given, and
    named in the agent's `tools`. Anything else can be set with `**overrides`.

    Args:
        pa_agent: The PydanticAI agent.
        name: The murmur agent's name (default: the PydanticAI agent's name).
        runtime: Where to register the agent's plain function tools.
        **overrides: Any other `Agent` field (trust_level, input_type, ...).

    Raises:
        SpecValidationError: No name, no model, or an output type murmur cannot express.
    """
    agent_name = name or getattr(pa_agent, "name", None)
    if not agent_name:
        raise SpecValidationError(
            "from_pydantic_ai: the PydanticAI agent has no name; pass name=..."
        )
    model = getattr(pa_agent, "model", None)
    if model is None and "model" not in overrides:
        raise SpecValidationError(
            f"from_pydantic_ai: the PydanticAI agent {agent_name!r} has no model; pass model=..."
        )
    parts: list[str] = []
    for prompt in getattr(pa_agent, "_system_prompts", ()) or ():
        if isinstance(prompt, str) and prompt.strip():
            parts.append(prompt.strip())
    for sourced in getattr(pa_agent, "_instructions", ()) or ():
        text = getattr(sourced, "instruction", sourced)
        if isinstance(text, str) and text.strip():
            parts.append(text.strip())
    values: dict[str, Any] = {
        "name": agent_name,
        "model": model,
        "instructions": "\n\n".join(parts),
        "output_type": getattr(pa_agent, "output_type", str),
    }
    tool_names = _plain_tools(pa_agent, runtime)
    if tool_names:
        values["tools"] = tool_names
    values.update(overrides)
    return Agent(**values)


def _plain_tools(pa_agent: Any, runtime: AgentRuntime | None) -> list[str]:
    toolset = getattr(pa_agent, "_function_toolset", None)
    tools: dict[str, Any] = getattr(toolset, "tools", None) or {}
    names: list[str] = []
    for tool_name, tool in tools.items():
        if getattr(tool, "takes_ctx", False):
            continue
        function = getattr(tool, "function", None)
        if function is None or runtime is None:
            continue
        runtime.tools.register(tool_name, function)
        names.append(tool_name)
    return names

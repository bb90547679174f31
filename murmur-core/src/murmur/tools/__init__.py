"""Tools: the native registry, the trust gate, and tool providers.

Native tools run inside the runtime, never inside the agent: each call passes the trust
gate and emits `TOOL_CALL_STARTED` / `_COMPLETED` / `_FAILED`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from murmur.tools._pool import ToolsetPool, ToolsetProvider
from murmur.tools._registry import RegisteredTool, ToolRegistry, check_tool_allowed

__all__ = [
    "PythonToolProvider",
    "RegisteredTool",
    "ToolProvider",
    "ToolRegistry",
    "ToolsetPool",
    "ToolsetProvider",
    "check_tool_allowed",
    "python_tool_provider_factory",
]


@runtime_checkable
class ToolProvider(Protocol):
    """Supplies PydanticAI toolsets for an agent run (native Python tools, MCP servers...).

    Every tool a provider supplies is still gated by trust level and emits tool events.
    """

    name: str

    def toolsets(self, agent: Any, registry: ToolRegistry) -> list[Any]:
        """PydanticAI toolsets offering this provider's tools to `agent`."""
        ...


class PythonToolProvider:
    """Offers the agent's declared native tools from the runtime's `ToolRegistry`."""

    name = "python"

    def toolsets(self, agent: Any, registry: ToolRegistry) -> list[Any]:
        """One FunctionToolset with the registered tools the agent declares."""
        from murmur.backends._pydantic_ai import function_toolset

        return [function_toolset(agent, registry)]


def python_tool_provider_factory(spec: Any = None) -> PythonToolProvider:
    """Entry point `murmur.tool_providers:python`."""
    return PythonToolProvider()


def __getattr__(name: str) -> Any:
    # Coordination helpers live with the groups code; imported lazily.
    if name in {"make_spawn_agents_tool", "SpawnResult", "SpawnRequest"}:
        from murmur.groups import _spawn

        return getattr(_spawn, name)
    raise AttributeError(f"module 'murmur.tools' has no attribute {name!r}")

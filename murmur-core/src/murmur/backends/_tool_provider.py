"""Tool providers: where an agent's toolsets come from. `PythonToolProvider` offers the
runtime's native tools (entry point `murmur.tool_providers:python`)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from murmur.tools._registry import ToolRegistry

__all__ = ["PythonToolProvider", "ToolProvider", "python_tool_provider_factory"]


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
        from murmur.backends._pydantic_ai import function_toolset  # imports PydanticAI

        return [function_toolset(agent, registry)]


def python_tool_provider_factory(spec: Any = None) -> PythonToolProvider:
    """Entry point `murmur.tool_providers:python`."""
    return PythonToolProvider()

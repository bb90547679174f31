"""`PythonToolProvider`: the runtime's native tools as a tool provider.

Its entry point is `murmur.tool_providers:python`.
"""

from __future__ import annotations

from typing import Any

from murmur.tooling._registry import ToolRegistry

__all__ = ["PythonToolProvider", "python_tool_provider_factory"]


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

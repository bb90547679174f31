"""`ToolProvider`: what supplies an agent run's toolsets (native tools, MCP servers...)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from murmur.tooling._registry import ToolRegistry

__all__ = ["ToolProvider"]


@runtime_checkable
class ToolProvider(Protocol):
    """Supplies PydanticAI toolsets for an agent run (native Python tools, MCP servers...).

    Every tool a provider supplies is still gated by trust level and emits tool events.
    """

    name: str

    def toolsets(self, agent: Any, registry: ToolRegistry) -> list[Any]:
        """PydanticAI toolsets offering this provider's tools to `agent`."""
        ...

"""Tools: the native registry, the trust gate, and tool providers.

Native tools run inside the runtime, never inside the agent: each call passes the trust
gate and emits `TOOL_CALL_STARTED` / `_COMPLETED` / `_FAILED`. `make_spawn_agents_tool`
(LLM-driven fan-out) is re-exported here from `murmur.groups`.
"""

from __future__ import annotations

from murmur.backends._tool_provider import PythonToolProvider, python_tool_provider_factory
from murmur.groups._spawn import SpawnRequest, SpawnResult, make_spawn_agents_tool
from murmur.tooling._pool import ToolsetPool, ToolsetProvider
from murmur.tooling._provider import ToolProvider
from murmur.tooling._registry import RegisteredTool, ToolRegistry, check_tool_allowed

__all__ = [
    "PythonToolProvider",
    "RegisteredTool",
    "SpawnRequest",
    "SpawnResult",
    "ToolProvider",
    "ToolRegistry",
    "ToolsetPool",
    "ToolsetProvider",
    "check_tool_allowed",
    "make_spawn_agents_tool",
    "python_tool_provider_factory",
]

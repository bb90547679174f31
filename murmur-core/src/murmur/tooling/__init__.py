"""The tool layer: the native tool registry, the shared toolsets pool, and `ToolProvider`.

The native tool registry comes with its trust gate, the pool holds shared toolsets (MCP servers),
and `ToolProvider` is the protocol tool providers implement.

Users import these names from `murmur.tools`, which also carries the spawn tool and the
PydanticAI-backed `PythonToolProvider`.
"""

from __future__ import annotations

from murmur.tooling._pool import ToolsetPool, ToolsetProvider
from murmur.tooling._provider import ToolProvider
from murmur.tooling._registry import RegisteredTool, ToolRegistry, check_tool_allowed

__all__ = [
    "RegisteredTool",
    "ToolProvider",
    "ToolRegistry",
    "ToolsetPool",
    "ToolsetProvider",
    "check_tool_allowed",
]

"""murmur-mcp: MCP on both sides of murmur.

Client side: any MCP server's tools in `Agent(mcp_servers=...)`, every call through the
runtime's trust gate.

```python
from murmur import Agent, AgentRuntime, TaskSpec
from murmur_mcp import mcp_stdio

clock = Agent(
    name="clock",
    model="openai:gpt-5.2",
    mcp_servers=(mcp_stdio("time", "uvx", ["mcp-server-time"]),),
    tools=("time.get_current_time",),   # MEDIUM trust: the allow-list, as "server.tool"
)
```

Server side: chosen agents as MCP tools (`create_mcp_server`, `mcp_http_app`,
`murmur mcp serve`, `murmur serve --mcp AGENTS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from murmur_mcp._spec import (
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_CONNECT_TIMEOUT_S,
    HttpMCPServer,
    MCPServerSpec,
    SseMCPServer,
    StdioMCPServer,
    mcp_http,
    mcp_server_from_spec,
    mcp_sse,
    mcp_stdio,
    mcp_tool_provider_factory,
)

if TYPE_CHECKING:
    from murmur_mcp._asgi import mcp_http_app
    from murmur_mcp._server import ERROR_META_KEY, create_mcp_server
    from murmur_mcp._toolset import SharedMCPToolset

__all__ = [
    "DEFAULT_CALL_TIMEOUT_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "ERROR_META_KEY",
    "HttpMCPServer",
    "MCPServerSpec",
    "SharedMCPToolset",
    "SseMCPServer",
    "StdioMCPServer",
    "create_mcp_server",
    "mcp_http",
    "mcp_http_app",
    "mcp_server_from_spec",
    "mcp_sse",
    "mcp_stdio",
    "mcp_tool_provider_factory",
]

# The server side and the live toolset import the MCP SDK and PydanticAI (over a second):
# loaded on first use, so reading YAML specs with MCP servers stays cheap.
_HEAVY = {
    "ERROR_META_KEY": "murmur_mcp._server",
    "create_mcp_server": "murmur_mcp._server",
    "mcp_http_app": "murmur_mcp._asgi",
    "SharedMCPToolset": "murmur_mcp._toolset",
}


def __getattr__(name: str) -> Any:
    module = _HEAVY.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur_mcp' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

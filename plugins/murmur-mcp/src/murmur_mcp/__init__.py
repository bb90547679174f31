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

Server side: chosen agents as MCP tools (`create_mcp_server`, `murmur mcp serve`,
`murmur serve --mcp AGENTS`).
"""

from __future__ import annotations

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

__all__ = [
    "DEFAULT_CALL_TIMEOUT_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "HttpMCPServer",
    "MCPServerSpec",
    "SseMCPServer",
    "StdioMCPServer",
    "mcp_http",
    "mcp_server_from_spec",
    "mcp_sse",
    "mcp_stdio",
    "mcp_tool_provider_factory",
]

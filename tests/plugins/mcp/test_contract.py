"""murmur-mcp passes the kernel's tool-provider contract against a real MCP server."""

from __future__ import annotations

from typing import Any

import pytest
from murmur_mcp import mcp_stdio

from murmur import Agent
from murmur.testing.tools import ToolProviderContract

from ._peers import uv_tool


class TestMCPServerProvider(ToolProviderContract):
    """An `mcp_stdio` spec for `mcp-server-time` as a tool provider."""

    @pytest.fixture
    def provider(self) -> Any:
        """The spec (a `ToolProvider` as well as a `ToolsetProvider`)."""
        return mcp_stdio("time", uv_tool("mcp-server-time"))

    @pytest.fixture
    def agent(self, provider: Any) -> Agent[Any]:
        """An agent listing the server."""
        return Agent(name="clock", mcp_servers=(provider,), tools=("time.get_current_time",))

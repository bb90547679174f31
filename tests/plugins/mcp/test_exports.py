"""murmur-mcp's public face: exactly the intended names, a light import, its entry points."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import murmur_mcp
from click.testing import CliRunner

from murmur.cli import cli
from murmur.plugins import PluginHost

EXPORTED = {
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
}


def test_the_public_names_are_exactly_the_intended_ones() -> None:
    """`__all__` lists the public API, and every name in it resolves."""
    assert set(murmur_mcp.__all__) == EXPORTED
    for name in EXPORTED:
        assert getattr(murmur_mcp, name) is not None


def test_importing_murmur_mcp_does_not_import_the_mcp_libraries() -> None:
    """Reading specs (`import murmur_mcp`) stays light: no mcp, fastmcp or pydantic_ai."""
    code = (
        "import sys, murmur_mcp; "
        "print(sorted(m for m in ('mcp', 'fastmcp', 'pydantic_ai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)
    assert out.stdout.decode().strip() == "[]"


def test_it_is_found_as_the_mcp_tool_provider_command_and_plugin() -> None:
    """Entry points: `tool_providers:mcp`, `commands:mcp` and the `murmur.plugins` hook."""
    eps = {(ep.group, ep.name) for ep in importlib.metadata.distribution("murmur-mcp").entry_points}
    assert eps == {
        ("murmur.tool_providers", "mcp"),
        ("murmur.commands", "mcp"),
        ("murmur.plugins", "mcp"),
    }
    spec = {"kind": "mcp", "name": "time", "command": "uvx", "args": ["mcp-server-time"]}
    assert PluginHost().resolve_tool_provider(spec) == murmur_mcp.mcp_stdio(
        "time", "uvx", ["mcp-server-time"]
    )
    help_text = CliRunner().invoke(cli, ["mcp", "serve", "--help"]).output
    assert "--agents" in help_text
    assert "--transport" in help_text

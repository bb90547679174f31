"""Real MCP peers from the registries for the murmur-mcp tests.

`mcp-server-time` and `mcp-server-git` (PyPI) are uv tools (`uv tool install`, done by
`.ci/run`); `@modelcontextprotocol/server-everything` and the MCP Inspector (npm) live in
`plugins/murmur-mcp/tests-node/node_modules` (`npm ci` there, done by `.ci/run`). A missing
peer skips its tests with the command that installs it, and fails them under CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur.testing import services_required

ROOT = Path(__file__).resolve().parents[3]
NODE_DIR = ROOT / "plugins" / "murmur-mcp" / "tests-node"
EVERYTHING_JS = (
    NODE_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
)
INSPECTOR_BIN = NODE_DIR / "node_modules" / ".bin" / "mcp-inspector"


def _missing(message: str) -> None:
    if services_required():
        pytest.fail(message + " (MURMUR_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def uv_tool(name: str) -> str:
    """The path of the uv tool `name`, or skip (fail under CI) with how to install it."""
    found = shutil.which(name) or shutil.which(name, path=str(Path.home() / ".local" / "bin"))
    if found is None:
        _missing(f"{name} is not installed; run `uv tool install {name}`")
    assert found is not None
    return found


def everything_js() -> str:
    """server-everything's entry script, or skip (fail under CI)."""
    if shutil.which("node") is None or not EVERYTHING_JS.exists():
        _missing(
            f"@modelcontextprotocol/server-everything is not installed; run `npm ci` in {NODE_DIR}"
        )
    return str(EVERYTHING_JS)


def children_running(pattern: str) -> list[int]:
    """PIDs of this process's children whose command line contains `pattern` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and pattern in cmdline:
            found.append(int(entry))
    return found


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[Any], within_s: float = 30.0) -> None:
    """Block until `port` accepts connections (or `proc` exits, or time runs out)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listened on port {port} within {within_s}s")


def _serve_everything(transport: str, path: str) -> Iterator[str]:
    script = everything_js()
    port = free_port()
    proc = subprocess.Popen(
        ["node", script, transport],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def everything_http_url() -> Iterator[str]:
    """server-everything serving Streamable HTTP on a free port, for this module."""
    yield from _serve_everything("streamableHttp", "/mcp")


@pytest.fixture(scope="module")
def everything_sse_url() -> Iterator[str]:
    """server-everything serving HTTP + SSE on a free port, for this module."""
    yield from _serve_everything("sse", "/sse")


def calls_tool(tool: str, args: dict[str, Any]) -> FunctionModel:
    """A model that calls `tool(**args)` once, then answers with what came back."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        for part in messages[-1].parts:
            if isinstance(part, ToolReturnPart):
                return ModelResponse(parts=[TextPart(f"ok:{part.model_response_str()}")])
        return ModelResponse(parts=[ToolCallPart(tool, args)])

    return FunctionModel(respond)


PYTHON = sys.executable

"""`pip install murmur-core murmur-mcp` from built wheels, in a fresh venv: core alone says what
to install for `mcp_servers`; with murmur-mcp, a YAML agent calls a real MCP server's tool and
`murmur mcp serve` is a command."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ._peers import uv_tool

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("uv") is None, reason="needs uv to build wheels")

SPEC = """
name: clock
tools: [time.get_current_time]
mcp_servers:
  - name: time
    command: {command}
"""

WITHOUT_PLUGIN = """
from murmur import Agent
from murmur.core.errors import MurmurError
try:
    Agent.from_yaml(open("clock.yaml").read())
except MurmurError as exc:
    print("spec:", exc)
"""

WITH_PLUGIN = """
import asyncio
from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import FunctionModel
from murmur import Agent, AgentRuntime

def respond(messages, info):
    for part in messages[-1].parts:
        if isinstance(part, ToolReturnPart):
            return ModelResponse(parts=[TextPart("ok:" + part.model_response_str())])
    return ModelResponse(parts=[ToolCallPart("get_current_time", {"timezone": "UTC"})])

agent = Agent.from_yaml(open("clock.yaml").read()).model_copy(
    update={"model": FunctionModel(respond)}
)

async def main():
    async with AgentRuntime() as runtime:
        result = await runtime.run(agent, "what time is it?")
    print("result:", result.error or result.output)

asyncio.run(main())
"""


def _run(*command: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_core_and_mcp_wheels_compose_in_a_fresh_venv(tmp_path: Path) -> None:
    """Built wheels in a new venv: core alone hints; core + mcp runs an MCP tool from YAML."""
    (tmp_path / "clock.yaml").write_text(SPEC.format(command=uv_tool("mcp-server-time")))
    dist = tmp_path / "dist"
    for package in ("murmur-core", "murmur-mcp"):
        _run("uv", "build", "--wheel", "--package", package, "--out-dir", dist)
    wheels = {p.name.split("-")[0]: p for p in dist.glob("*.whl")}
    assert sorted(wheels) == ["murmur_core", "murmur_mcp"]
    venv = tmp_path / "venv"
    _run("uv", "venv", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    _run("uv", "pip", "install", "--python", python, wheels["murmur_core"])
    alone = _run(python, "-c", WITHOUT_PLUGIN, cwd=tmp_path)
    assert 'no tool provider of kind "mcp": pip install murmur-mcp' in alone
    _run("uv", "pip", "install", "--python", python, wheels["murmur_core"], wheels["murmur_mcp"])
    composed = _run(python, "-c", WITH_PLUGIN, cwd=tmp_path)
    assert "result: ok:" in composed
    assert '"timezone":"UTC"' in composed.replace(" ", "")
    assert "--agents" in _run(venv / "bin" / "murmur", "mcp", "serve", "--help", cwd=tmp_path)
    assert "murmur-mcp" in _run(venv / "bin" / "murmur", "plugins", "list", cwd=tmp_path)

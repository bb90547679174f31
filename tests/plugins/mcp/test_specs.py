"""MCP servers in YAML specs, `murmur validate`, and a worker fleet owning the servers."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from murmur_mcp import mcp_http, mcp_sse, mcp_stdio

from murmur import Agent, AgentRuntime, TaskSpec, TrustLevel
from murmur.cli import cli
from murmur.core.errors import SpecValidationError
from murmur.events import CollectingEventEmitter
from murmur.testing import require_service
from murmur.worker import Worker

from ._peers import calls_tool, children_running, uv_tool

HERE = Path(__file__).resolve().parent

SPEC = """
version: 1
name: clock
model: test
trust_level: medium
tools:
  - time.get_current_time
mcp_servers:
  - name: time
    command: {command}
    args: ["--local-timezone", "UTC"]
    env:
      TZ: UTC
  - name: docs
    url: https://mcp.example.com/mcp
    headers:
      Authorization: Bearer ${{DOCS_TOKEN}}
    call_timeout: 20
  - name: legacy
    url: http://127.0.0.1:3001/sse
    transport: sse
"""


def test_mcp_servers_round_trip_through_yaml() -> None:
    """stdio, Streamable HTTP and SSE servers, with env, headers and timeouts, round-trip."""
    agent = Agent(
        name="clock",
        tools=("time.get_current_time", "docs.search"),
        mcp_servers=(
            mcp_stdio("time", "uvx", ["mcp-server-time"], env={"TZ": "UTC"}, connect_timeout=5),
            mcp_http("docs", "https://mcp.example.com/mcp", headers={"X-Key": "${KEY}"}),
            mcp_sse("legacy", "http://127.0.0.1:3001/sse", call_timeout=9),
        ),
    )
    text = agent.to_yaml()
    assert "mcp_servers:" in text
    assert Agent.from_yaml(text) == agent


def test_a_yaml_spec_with_mcp_servers_loads_as_documented() -> None:
    """The docs' YAML form: command/args/env, url/headers (`${VAR}` kept), transport: sse."""
    agent = Agent.from_yaml(SPEC.format(command="mcp-server-time"))
    assert agent.mcp_servers == (
        mcp_stdio("time", "mcp-server-time", ["--local-timezone", "UTC"], env={"TZ": "UTC"}),
        mcp_http(
            "docs",
            "https://mcp.example.com/mcp",
            headers={"Authorization": "Bearer ${DOCS_TOKEN}"},
            call_timeout=20,
        ),
        mcp_sse("legacy", "http://127.0.0.1:3001/sse"),
    )


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("{name: x, command: a, url: 'http://h/mcp'}", "either command (stdio) or url"),
        ("{name: x}", "either command (stdio) or url"),
        ("{name: 'a.b', command: a}", "letters, digits"),
        ("{name: x, command: a, colour: red}", "unknown key(s) ['colour']"),
        ("{name: x, url: 'ftp://h'}", "http:// or https://"),
        ("{name: x, url: 'http://h', transport: websocket}", "'streamable-http' or 'sse'"),
        ("{name: x, command: a, call_timeout: 0}", "call_timeout must be"),
    ],
)
def test_a_bad_mcp_server_entry_is_a_spec_error_saying_what_to_fix(
    entry: str, complaint: str
) -> None:
    """Bad `mcp_servers:` entries are SpecValidationError naming the problem."""
    with pytest.raises(SpecValidationError) as caught:
        Agent.from_yaml(f"name: a\nmcp_servers:\n  - {entry}\n")
    assert complaint in str(caught.value)


def test_murmur_validate_accepts_mcp_servers_and_reports_a_bad_one(tmp_path: Path) -> None:
    """`murmur validate` passes a spec with MCP servers and names the file of a bad one."""
    (tmp_path / "clock.yaml").write_text(SPEC.format(command="mcp-server-time"))
    ok = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    (tmp_path / "broken.yaml").write_text(
        textwrap.dedent(
            """
            name: broken
            mcp_servers:
              - name: x
                command: a
                url: http://h/mcp
            """
        )
    )
    bad = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert bad.exit_code == 1
    assert "broken.yaml" in bad.output
    assert "either command (stdio) or url" in bad.output


async def test_an_agent_loaded_from_yaml_calls_its_mcp_server() -> None:
    """A spec's server starts on first use and its allow-listed tool runs."""
    spec = Agent.from_yaml(SPEC.format(command=uv_tool("mcp-server-time")))
    clock = spec.model_copy(
        update={
            "model": calls_tool("get_current_time", {"timezone": "UTC"}),
            "mcp_servers": spec.mcp_servers[:1],
        }
    )
    async with AgentRuntime() as runtime:
        result = await runtime.run(clock, TaskSpec(input="time?"))
    assert result.error is None, result.error
    assert "UTC" in result.output


async def test_a_fleet_worker_owns_the_mcp_servers_of_its_agents() -> None:
    """The worker starts the server and runs the tool; the caller's copy of the agent names a
    command that does not exist here and is never started; the server stops with the worker."""
    binary = uv_tool("mcp-server-time")
    url = f"memory://mcp-{uuid.uuid4().hex}"
    model = calls_tool("get_current_time", {"timezone": "UTC"})
    on_worker = Agent(
        name="clock",
        model=model,
        mcp_servers=(mcp_stdio("time", binary),),
        tools=("time.get_current_time",),
        trust_level=TrustLevel.MEDIUM,
    )
    on_caller = on_worker.model_copy(
        update={"mcp_servers": (mcp_stdio("time", "/not/installed/here/mcp-server-time"),)}
    )
    worker = Worker(url, {"clock": on_worker}, event_emitter=CollectingEventEmitter())
    serving = asyncio.create_task(worker.start())
    await worker.wait_ready()
    try:
        async with AgentRuntime(broker=url, event_emitter=CollectingEventEmitter()) as caller:
            results = await caller.gather(on_caller, [TaskSpec(input=str(i)) for i in range(5)])
            assert caller.toolsets.names() == []
        assert [r.error for r in results] == [None] * 5
        assert all("UTC" in r.output for r in results)
        assert worker.runtime.toolsets.toolsets()["time"].starts == 1
        assert len(children_running(binary)) == 1
    finally:
        await worker.stop()
        await serving
    assert children_running(binary) == []


async def test_a_murmur_worker_process_runs_an_mcp_using_agent_for_a_caller_without_it() -> None:
    """`murmur worker start` on Redis owns the MCP server; the caller's agent has none."""
    require_service("Redis", "127.0.0.1", 6379)
    binary = uv_tool("mcp-server-time")
    url = f"redis://127.0.0.1:6379/0?namespace=mcp-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "MURMUR_TEST_TIME_SERVER": binary,
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "murmur.cli", "worker", "start", "--agents", "clock",
        "--app", "_mcp_fleet_app:agents", "--broker", url, "--concurrency", "4",
        cwd=HERE, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    caller_view = Agent(name="clock", model="test")  # no MCP server, no tools here
    try:
        async with AgentRuntime(broker=url, event_emitter=CollectingEventEmitter()) as caller:
            results = await caller.gather(caller_view, [TaskSpec(input=str(i)) for i in range(6)])
            assert caller.toolsets.names() == []
    finally:
        worker.terminate()
        await worker.wait()
    assert [r.error for r in results] == [None] * 6
    pids = {r.output.split(":", 1)[0] for r in results}
    assert pids == {str(worker.pid)}
    assert all('"timezone":"UTC"' in r.output.replace(" ", "") for r in results)


def test_the_docs_yaml_spec_loads_and_their_client_configs_are_json() -> None:
    """docs/mcp.md's YAML agent loads as written; its Claude Desktop / Cursor configs parse."""
    import json
    import re

    text = (HERE.parents[2] / "docs" / "mcp.md").read_text()
    [spec] = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    agent = Agent.from_yaml(spec)
    assert [s.name for s in agent.mcp_servers] == ["time", "docs", "legacy"]
    assert Agent.from_yaml(agent.to_yaml()) == agent
    configs = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    assert len(configs) == 3
    assert all("murmur" in c["mcpServers"] for c in configs)

"""Agents use real MCP servers' tools through murmur's trust gate (murmur-mcp, client side)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from murmur_mcp import mcp_http, mcp_sse, mcp_stdio
from murmur_mcp._toolset import SharedMCPToolset

from murmur import Agent, AgentRuntime, TaskSpec, TrustLevel
from murmur.core.errors import (
    RegistryError,
    SpecValidationError,
    ToolExecutionError,
    TrustViolationError,
)
from murmur.events import CollectingEventEmitter, EventType, RuntimeEvent

from ._peers import (
    PYTHON,
    calls_tool,
    children_running,
    everything_js,
    free_port,
    uv_tool,
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit and one untracked file, `new.txt`."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "readme.md").write_text("hello\n")
    git("add", "readme.md")
    git("commit", "-q", "-m", "first")
    (tmp_path / "new.txt").write_text("new\n")
    return tmp_path


def staged(repo: Path) -> list[str]:
    """Files in the repository's index that differ from HEAD."""
    out = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=repo, check=True, capture_output=True
    )
    return out.stdout.decode().split()


def shared(runtime: AgentRuntime, name: str) -> SharedMCPToolset:
    """The runtime's live toolset for the MCP server `name`."""
    toolset = runtime.toolsets.toolsets()[name]
    assert isinstance(toolset, SharedMCPToolset)
    return toolset


async def test_a_time_server_tool_is_called_through_the_gate_with_tool_events() -> None:
    """MEDIUM trust with `time.get_current_time` allowed: the call runs, events name it."""
    events = CollectingEventEmitter()
    runtime = AgentRuntime(event_emitter=events)
    clock = Agent(
        name="clock",
        model=calls_tool("get_current_time", {"timezone": "UTC"}),
        mcp_servers=(mcp_stdio("time", uv_tool("mcp-server-time")),),
        tools=("time.get_current_time",),
        trust_level=TrustLevel.MEDIUM,
    )
    try:
        result = await runtime.run(clock, TaskSpec(input="what time is it?"))
    finally:
        await runtime.aclose()
    assert result.error is None
    assert '"timezone":"UTC"' in result.output.replace(" ", "")
    started = events.of_type(EventType.TOOL_CALL_STARTED)
    completed = events.of_type(EventType.TOOL_CALL_COMPLETED)
    assert [e.payload["tool"] for e in started] == ["time.get_current_time"]
    assert [e.payload["tool"] for e in completed] == ["time.get_current_time"]


@pytest.mark.parametrize(
    ("trust", "allow", "tool", "allowed"),
    [
        (TrustLevel.HIGH, (), "git_add", True),
        (TrustLevel.MEDIUM, ("git.git_add",), "git_add", True),
        (TrustLevel.MEDIUM, ("git.git_status",), "git_add", False),
        (TrustLevel.LOW, ("git.git_status", "git.git_add"), "git_status", True),
        (TrustLevel.LOW, ("git.git_status", "git.git_add"), "git_add", False),
        (TrustLevel.SANDBOX, ("git.git_status",), "git_status", False),
    ],
)
async def test_trust_levels_allow_and_deny_git_server_tools(
    repo: Path, trust: TrustLevel, allow: tuple[str, ...], tool: str, allowed: bool
) -> None:
    """HIGH: all; MEDIUM: the allow-list; LOW: allow-listed tools the server marks
    readOnlyHint (git_status is, git_add is not); SANDBOX: none. A denied git_add never
    reaches the server: nothing is staged."""
    events = CollectingEventEmitter()
    runtime = AgentRuntime(event_emitter=events)
    args: dict[str, Any] = {"repo_path": str(repo)}
    if tool == "git_add":
        args["files"] = ["new.txt"]
    agent = Agent(
        name="gitter",
        model=calls_tool(tool, args),
        mcp_servers=(mcp_stdio("git", uv_tool("mcp-server-git"), ["--repository", str(repo)]),),
        tools=allow,
        trust_level=trust,
    )
    try:
        result = await runtime.run(agent, TaskSpec(input="go"))
    finally:
        await runtime.aclose()
    if allowed:
        assert result.error is None, result.error
        assert result.output.startswith("ok:")
        assert staged(repo) == (["new.txt"] if tool == "git_add" else [])
    else:
        assert isinstance(result.error, TrustViolationError)
        assert f"git.{tool}" in str(result.error)
        assert staged(repo) == []
        assert events.of_type(EventType.TOOL_CALL_STARTED) == []
        [denied] = events.of_type(EventType.TOOL_CALL_FAILED)
        assert denied.payload["denied"] is True
        assert denied.payload["tool"] == f"git.{tool}"


async def test_server_everything_over_stdio_streamable_http_and_sse(
    everything_http_url: str, everything_sse_url: str
) -> None:
    """The reference server's `echo` works over each transport, each its own named server."""
    script = everything_js()
    servers = {
        "stdio": mcp_stdio("everything", "node", [script, "stdio"]),
        "http": mcp_http("everything-http", everything_http_url),
        "sse": mcp_sse("everything-sse", everything_sse_url),
    }
    runtime = AgentRuntime()
    try:
        for transport, server in servers.items():
            agent = Agent(
                name=f"echo-{transport}",
                model=calls_tool("echo", {"message": f"hi over {transport}"}),
                mcp_servers=(server,),
                tools=(f"{server.name}.echo",),
            )
            result = await runtime.run(agent, TaskSpec(input="go"))
            assert result.error is None, result.error
            assert f"Echo: hi over {transport}" in result.output
    finally:
        await runtime.aclose()


class ToolStarted:
    """An emitter that sets `started` when a tool call starts."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def emit(self, event: RuntimeEvent) -> None:
        if event.event_type is EventType.TOOL_CALL_STARTED:
            self.started.set()


async def test_a_server_killed_mid_call_fails_that_call_typed_and_is_restarted() -> None:
    """The in-flight call gets ToolExecutionError(mcp_server_died); the next run starts a
    new process and succeeds."""
    script = everything_js()
    emitter = ToolStarted()
    runtime = AgentRuntime(event_emitter=emitter)
    agent = Agent(
        name="slow",
        model=calls_tool("trigger-long-running-operation", {"duration": 30, "steps": 30}),
        mcp_servers=(mcp_stdio("everything", "node", [script, "stdio"]),),
        trust_level=TrustLevel.HIGH,
    )
    quick = agent.model_copy(
        update={"name": "quick", "model": calls_tool("echo", {"message": "x"})}
    )
    try:
        await runtime.run(quick, TaskSpec(input="warm up"))  # the server is up
        [pid] = children_running(f"{script} stdio")
        emitter.started.clear()
        run = asyncio.create_task(runtime.run(agent, TaskSpec(input="go")))
        await emitter.started.wait()  # the long call is in flight
        os.kill(pid, signal.SIGKILL)
        died = await run
        assert isinstance(died.error, ToolExecutionError)
        assert died.error.code == "mcp_server_died"
        assert "started again on next use" in died.error.message
        again = await runtime.run(quick, TaskSpec(input="again"))
        assert again.error is None, again.error
        assert shared(runtime, "everything").starts == 2
        assert len(children_running(f"{script} stdio")) == 1
    finally:
        await runtime.aclose()


async def test_a_server_killed_between_runs_is_restarted_on_next_use() -> None:
    """A server process that died while idle is started again by the next run."""
    runtime = AgentRuntime()
    binary = uv_tool("mcp-server-time")
    clock = Agent(
        name="clock",
        model=calls_tool("get_current_time", {"timezone": "UTC"}),
        mcp_servers=(mcp_stdio("time", binary),),
        trust_level=TrustLevel.HIGH,
    )
    try:
        assert (await runtime.run(clock, TaskSpec(input="1"))).error is None
        [pid] = children_running(binary)
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):  # the transport notices the exit
            if not children_running(binary):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        second = await runtime.run(clock, TaskSpec(input="2"))
        assert second.error is None, second.error
        assert shared(runtime, "time").starts == 2
    finally:
        await runtime.aclose()


async def test_a_server_that_cannot_start_names_its_command_and_stderr() -> None:
    """A server exiting at start is ToolExecutionError(mcp_start_failed) with the command
    line and the end of what it wrote to stderr."""
    runtime = AgentRuntime()
    broken = mcp_stdio(
        "broken",
        PYTHON,
        [
            "-c",
            "import sys; sys.stderr.write('fatal: no config at /etc/x.toml\\n'); sys.exit(3)",
        ],
        connect_timeout=20,
    )
    agent = Agent(name="a", mcp_servers=(broken,), trust_level=TrustLevel.HIGH)
    try:
        result = await runtime.run(agent, TaskSpec(input="go"))
    finally:
        await runtime.aclose()
    assert isinstance(result.error, ToolExecutionError)
    assert result.error.code == "mcp_start_failed"
    assert PYTHON in result.error.message
    assert "fatal: no config at /etc/x.toml" in result.error.message


async def test_a_call_over_its_timeout_is_a_typed_error() -> None:
    """A tool call longer than call_timeout fails the run with ToolExecutionError(mcp_timeout)."""
    runtime = AgentRuntime()
    agent = Agent(
        name="slow",
        model=calls_tool("trigger-long-running-operation", {"duration": 10, "steps": 2}),
        mcp_servers=(mcp_stdio("everything", "node", [everything_js(), "stdio"], call_timeout=1),),
        trust_level=TrustLevel.HIGH,
    )
    try:
        result = await runtime.run(agent, TaskSpec(input="go"))
    finally:
        await runtime.aclose()
    assert isinstance(result.error, ToolExecutionError)
    assert result.error.code == "mcp_timeout"
    assert "call_timeout" in result.error.message


async def test_agents_and_concurrent_runs_share_one_process_until_aclose() -> None:
    """Two agents listing equal specs and 20 concurrent runs use one server process, which
    `runtime.aclose()` stops."""
    binary = uv_tool("mcp-server-time")
    server = mcp_stdio("time", binary)
    model = calls_tool("get_current_time", {"timezone": "Europe/Paris"})
    first = Agent(
        name="first", model=model, mcp_servers=(server,), tools=("time.get_current_time",)
    )
    second = Agent(
        name="second", model=model, mcp_servers=(mcp_stdio("time", binary),), trust_level="high"
    )
    runtime = AgentRuntime()
    try:
        results = await asyncio.gather(
            *(runtime.run(agent, TaskSpec(input="t")) for agent in [first, second] * 10)
        )
        assert [r.error for r in results] == [None] * 20
        assert shared(runtime, "time").starts == 1
        assert len(children_running(binary)) == 1
    finally:
        await runtime.aclose()
    assert children_running(binary) == []


async def test_env_references_are_read_from_the_environment_when_the_server_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`${VAR}` in a spec's env reaches the server process expanded; the spec keeps `${VAR}`."""
    monkeypatch.setenv("MURMUR_TEST_SECRET", "s3cret-value")
    server = mcp_stdio(
        "everything",
        "node",
        [everything_js(), "stdio"],
        env={"MURMUR_PROBE": "${MURMUR_TEST_SECRET}"},
    )
    agent = Agent(
        name="env", model=calls_tool("get-env", {}), mcp_servers=(server,), trust_level="high"
    )
    runtime = AgentRuntime()
    try:
        result = await runtime.run(agent, TaskSpec(input="go"))
    finally:
        await runtime.aclose()
    assert result.error is None, result.error
    assert "s3cret-value" in result.output
    assert "${MURMUR_TEST_SECRET}" in agent.model_copy(update={"model": "test"}).to_yaml()


async def test_a_missing_env_reference_fails_the_run_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unset `${VAR}` is a SpecValidationError saying which variable to export."""
    monkeypatch.delenv("MURMUR_TEST_UNSET", raising=False)
    server = mcp_stdio("time", uv_tool("mcp-server-time"), env={"X": "${MURMUR_TEST_UNSET}"})
    runtime = AgentRuntime()
    try:
        result = await runtime.run(Agent(name="a", mcp_servers=(server,)), TaskSpec(input="go"))
    finally:
        await runtime.aclose()
    assert isinstance(result.error, SpecValidationError)
    assert "export MURMUR_TEST_UNSET" in result.error.message


async def test_two_different_servers_under_one_name_on_a_runtime_are_refused() -> None:
    """Equal specs share a server; a different spec reusing its name is a RegistryError."""
    binary = uv_tool("mcp-server-time")
    model = calls_tool("get_current_time", {"timezone": "UTC"})
    first = Agent(
        name="first", model=model, mcp_servers=(mcp_stdio("time", binary),), trust_level="high"
    )
    other = Agent(
        name="other",
        model=model,
        mcp_servers=(mcp_stdio("time", binary, ["--local-timezone", "UTC"]),),
    )
    runtime = AgentRuntime()
    try:
        assert (await runtime.run(first, TaskSpec(input="1"))).error is None
        clash = await runtime.run(other, TaskSpec(input="2"))
    finally:
        await runtime.aclose()
    assert isinstance(clash.error, RegistryError)
    assert "two different MCP servers are named 'time'" in clash.error.message


async def test_an_http_server_that_is_not_there_is_a_typed_start_failure_naming_its_url() -> None:
    """Nothing listening at the URL: ToolExecutionError(mcp_start_failed) naming the URL."""
    url = f"http://127.0.0.1:{free_port()}/mcp"
    agent = Agent(
        name="a", mcp_servers=(mcp_http("down", url, connect_timeout=10),), trust_level="high"
    )
    runtime = AgentRuntime()
    try:
        result = await runtime.run(agent, TaskSpec(input="go"))
    finally:
        await runtime.aclose()
    assert isinstance(result.error, ToolExecutionError)
    assert result.error.code == "mcp_start_failed"
    assert url in result.error.message


async def test_a_server_that_never_answers_the_handshake_hits_connect_timeout() -> None:
    """A process that starts but never speaks MCP fails at connect_timeout, typed, and is
    stopped."""
    silent = mcp_stdio("silent", PYTHON, ["-c", "import time; time.sleep(120)"], connect_timeout=1)
    runtime = AgentRuntime()
    try:
        result = await runtime.run(
            Agent(name="a", mcp_servers=(silent,), trust_level="high"), TaskSpec(input="go")
        )
    finally:
        await runtime.aclose()
    assert isinstance(result.error, ToolExecutionError)
    assert result.error.code == "mcp_start_failed"
    assert "within 1s (connect_timeout)" in result.error.message
    assert children_running("time.sleep(120)") == []

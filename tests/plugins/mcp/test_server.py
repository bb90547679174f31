"""MCP clients nobody here wrote call murmur agents exposed as MCP tools (server side).

The MCP SDK's own client over stdio (`murmur mcp serve`) and Streamable HTTP (`murmur mcp
serve --transport streamable-http`, and `/mcp` on `murmur serve --mcp`), and the MCP
Inspector's CLI as a third-party client. Only the agents named are exposed.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from murmur_mcp import ERROR_META_KEY

from ._peers import INSPECTOR_BIN, _missing, free_port, wait_for_port

APP_DIR = Path(__file__).resolve().parent
MURMUR = [sys.executable, "-m", "murmur.cli"]
TOKEN = "s3cret-token-for-tests"
EXPOSED = ["--app", "_mcp_app:runtime"]


def _serve(args: list[str], port: int) -> Iterator[str]:
    proc = subprocess.Popen(
        [*MURMUR, *args], cwd=APP_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        try:
            wait_for_port(port, proc, within_s=60)
        except RuntimeError:
            proc.kill()
            raise RuntimeError(proc.communicate()[1].decode()[-2000:]) from None
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def mcp_serve_url() -> Iterator[str]:
    """`murmur mcp serve --transport streamable-http` with a token, for this module."""
    port = free_port()
    yield from _serve(
        [
            "mcp",
            "serve",
            "--agents",
            "forecast,sealed",
            *EXPOSED,
            "--transport",
            "streamable-http",
            "--port",
            str(port),
            "--token",
            TOKEN,
        ],
        port,
    )


@pytest.fixture(scope="module")
def murmur_serve_mcp_url() -> Iterator[str]:
    """`murmur serve --mcp forecast,sealed` with a token: MCP at /mcp next to the REST API."""
    port = free_port()
    yield from _serve(
        ["serve", *EXPOSED, "--mcp", "forecast,sealed", "--port", str(port), "--token", TOKEN],
        port,
    )


def _http(url: str, token: str) -> Any:
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return streamable_http_client(url, http_client=client)


async def _lists_and_calls(client: Client) -> None:
    """What every client sees: two tools with schemas, a typed result with progress along
    the way, and a failed run as a tool error carrying the murmur code."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert sorted(tools) == ["forecast", "sealed"]
    assert tools["forecast"].input_schema["required"] == ["city"]
    assert tools["forecast"].output_schema is not None
    assert tools["forecast"].output_schema["required"] == ["city", "sky"]
    assert tools["sealed"].input_schema["required"] == ["input"]

    notes: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message)

    ok = await client.call_tool("forecast", {"city": "Oslo"}, progress_callback=on_progress)
    assert ok.is_error is False
    assert ok.structured_content == {"city": "Oslo", "sky": "clear"}
    assert notes == [
        "forecast: agent_spawned",
        "forecast: tool_call_started (look_up_sky)",
        "forecast: tool_call_completed (look_up_sky)",
        "forecast: agent_completed",
    ]

    failed = await client.call_tool("sealed", {"input": "go"})
    assert failed.is_error is True
    assert failed.meta is not None
    error = failed.meta[ERROR_META_KEY]
    assert (error["type"], error["code"]) == ("TrustViolationError", "trust_violation")
    text = failed.content[0]
    assert getattr(text, "text", "").startswith("[trust_violation] TrustViolationError:")


async def test_the_sdk_client_over_stdio_lists_and_calls_the_exposed_agents() -> None:
    """`murmur mcp serve --agents forecast,sealed` over stdio, as Claude Desktop runs it."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "murmur.cli", "mcp", "serve", "--agents", "forecast,sealed", *EXPOSED],
        cwd=str(APP_DIR),
    )
    async with Client(params, read_timeout_seconds=60) as client:
        await _lists_and_calls(client)


async def test_the_sdk_client_over_streamable_http_lists_and_calls_them(
    mcp_serve_url: str,
) -> None:
    """`murmur mcp serve --transport streamable-http` with the right bearer token."""
    async with Client(_http(mcp_serve_url, TOKEN)) as client:
        await _lists_and_calls(client)


async def test_murmur_serve_mounts_them_at_mcp_behind_its_token(
    murmur_serve_mcp_url: str,
) -> None:
    """`murmur serve --mcp` serves the same tools at /mcp, lifespan and host check included."""
    async with Client(_http(murmur_serve_mcp_url, TOKEN)) as client:
        await _lists_and_calls(client)


@pytest.mark.parametrize("server", ["mcp_serve_url", "murmur_serve_mcp_url"])
async def test_a_wrong_or_missing_token_is_refused(
    server: str, request: pytest.FixtureRequest
) -> None:
    """No MCP request reaches the agents without the token: 401 for a wrong or missing one."""
    url: str = request.getfixturevalue(server)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=30) as http:
        wrong = await http.post(
            url, json=body, headers={**headers, "Authorization": "Bearer wrong"}
        )
        missing = await http.post(url, json=body, headers=headers)
    assert (wrong.status_code, missing.status_code) == (401, 401)
    with pytest.raises(Exception):  # noqa: B017 - the SDK's own error for a 401
        async with Client(_http(url, "wrong")) as client:
            await client.list_tools()


def _inspector(*args: str) -> Any:
    if not INSPECTOR_BIN.exists():
        _missing(f"the MCP Inspector is not installed; run `npm ci` in {INSPECTOR_BIN.parents[2]}")
    out = subprocess.run(
        [str(INSPECTOR_BIN), "--cli", *args],
        capture_output=True,
        check=False,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize("server", ["mcp_serve_url", "murmur_serve_mcp_url"])
def test_the_mcp_inspector_cli_lists_and_calls_them(
    server: str, request: pytest.FixtureRequest
) -> None:
    """The MCP Inspector (npm) as a third-party client: tools/list and tools/call."""
    url: str = request.getfixturevalue(server)
    auth = ["--transport", "http", "--header", f"Authorization: Bearer {TOKEN}"]
    listed = _inspector(url, *auth, "--method", "tools/list")
    assert sorted(t["name"] for t in listed["tools"]) == ["forecast", "sealed"]
    called = _inspector(
        url, *auth, "--method", "tools/call", "--tool-name", "forecast", "--tool-arg", "city=Oslo"
    )
    assert called["structuredContent"] == {"city": "Oslo", "sky": "clear"}


async def test_with_a_broker_the_exposed_agents_run_on_the_fleet() -> None:
    """A broker runtime behind the MCP server: a worker runs the call, the client gets the
    typed result and the run's progress (what `murmur mcp serve --broker URL` sets up)."""
    from murmur_mcp import create_mcp_server

    from murmur import AgentRuntime
    from murmur.events import CollectingEventEmitter
    from murmur.worker import Worker

    from . import _mcp_app

    fleet = _mcp_app.build()
    url = f"memory://mcp-serve-{uuid.uuid4().hex}"
    worker = Worker(url, fleet.agents, runtime=fleet)
    serving = asyncio.create_task(worker.start())
    await worker.wait_ready()
    caller = AgentRuntime(broker=url, event_emitter=CollectingEventEmitter())
    for agent in fleet.agents.values():
        caller.register(agent)
    try:
        notes: list[str | None] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            notes.append(message)

        async with Client(create_mcp_server(caller, ["forecast"])) as client:
            result = await client.call_tool(
                "forecast", {"city": "Lima"}, progress_callback=on_progress
            )
        assert result.structured_content == {"city": "Lima", "sky": "clear"}
        assert worker.stats.completed == 1
        # The worker's tool events travel back with the result and become progress too.
        assert "forecast: tool_call_completed (look_up_sky)" in notes
    finally:
        await caller.aclose()
        await worker.stop()
        await serving


def test_murmur_serve_mcp_refuses_unknown_agents_and_a_missing_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--mcp` with an agent nobody registered, or with murmur-mcp disabled, stops the
    server at start with a message saying what to fix."""
    from click.testing import CliRunner

    from murmur.cli import cli

    monkeypatch.chdir(APP_DIR)
    serve = ["serve", *EXPOSED, "--port", str(free_port())]
    unknown = CliRunner().invoke(cli, [*serve, "--mcp", "forecast,nobody"])
    assert unknown.exit_code != 0
    assert "--mcp names unknown agent(s) ['nobody']" in unknown.output
    monkeypatch.setenv("MURMUR_DISABLE_PLUGINS", "murmur-mcp")
    disabled = CliRunner().invoke(cli, [*serve, "--mcp", "forecast"])
    assert disabled.exit_code != 0
    assert "pip install murmur-mcp" in disabled.output


async def test_murmur_mcp_serve_with_a_store_records_the_runs_it_served(tmp_path: Path) -> None:
    """`--store sqlite:///...`: a call over stdio is a run in the store once the server exits."""
    from murmur import AgentRuntime

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "murmur.cli", "mcp", "serve", "--agents", "echo",
            "--app", "_mcp_app:echo_agents", "--store", url,
        ],
        cwd=str(APP_DIR),
    )  # fmt: skip
    async with Client(params, read_timeout_seconds=60) as client:
        result = await client.call_tool("echo", {"input": "hi"})
    assert result.structured_content == {"result": "success (no tool calls)"}
    async with AgentRuntime(store=url) as reader:
        assert reader.stores is not None
        [run] = await reader.stores.runs.list(agent_name="echo")
    assert (run.status.value, run.output, run.input) == (
        "completed",
        "success (no tool calls)",
        "hi",
    )


def test_a_token_less_loopback_server_refuses_a_foreign_host_header() -> None:
    """The SDK's DNS-rebinding check stays on without a token: `Host: evil.example` is 421,
    a loopback host is served."""
    from murmur_mcp import mcp_http_app
    from starlette.testclient import TestClient

    from . import _mcp_app

    app = mcp_http_app(_mcp_app.build(), ["forecast"])
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    with TestClient(app, base_url="http://127.0.0.1:8421") as client:
        served = client.post("/mcp", json=body, headers=headers)
        rebound = client.post("/mcp", json=body, headers={**headers, "Host": "evil.example"})
    assert (served.status_code, rebound.status_code) == (200, 421)


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--agents", "forecast,nobody", *EXPOSED], "unknown agent(s) ['nobody']"),
        (["--agents", "forecast"], "give the agents with --app MODULE:ATTR or --specs DIR"),
        (
            [
                "--agents",
                "forecast",
                *EXPOSED,
                "--transport",
                "streamable-http",
                "--host",
                "0.0.0.0",
            ],
            "set --token (or MURMUR_MCP_TOKEN)",
        ),
        (
            ["--agents", "forecast", *EXPOSED, "--broker", "memory://x"],
            "is a ready AgentRuntime; configure its broker and store there",
        ),
    ],
)
def test_murmur_mcp_serve_refuses_bad_options_saying_what_to_do(
    args: list[str], complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown agents, no agent source, a reachable host without a token, --broker on a ready
    runtime: each a usage error before anything is served."""
    from click.testing import CliRunner

    from murmur.cli import cli

    monkeypatch.chdir(APP_DIR)
    monkeypatch.delenv("MURMUR_MCP_TOKEN", raising=False)
    result = CliRunner().invoke(cli, ["mcp", "serve", *args])
    assert result.exit_code == 2
    assert complaint in result.output


async def test_murmur_mcp_serve_with_a_broker_runs_each_call_on_a_worker_process() -> None:
    """`murmur mcp serve --broker redis://...` over stdio and a `murmur worker start` process:
    the call runs on the worker (the serving process has no `look_up_sky` tool), the client
    gets the typed result and the worker's tool events as progress."""
    from murmur.testing import require_service

    require_service("Redis", "127.0.0.1", 6379)
    namespace = f"mcp-fleet-{uuid.uuid4().hex[:12]}"
    url = f"redis://127.0.0.1:6379/0?namespace={namespace}"
    worker = await asyncio.create_subprocess_exec(
        *MURMUR, "worker", "start", "--agents", "forecast", "--app", "_mcp_app:runtime",
        "--broker", url, "--concurrency", "4", "--no-log-events",
        cwd=APP_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "murmur.cli", "mcp", "serve", "--agents", "forecast",
            "--app", "_mcp_app:fleet_agents", "--broker", url,
        ],
        cwd=str(APP_DIR),
    )  # fmt: skip
    notes: list[str | None] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message)

    try:
        async with Client(params, read_timeout_seconds=90) as client:
            result = await client.call_tool(
                "forecast", {"city": "Lima"}, progress_callback=on_progress
            )
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 30)
        from redis.asyncio import Redis

        redis = Redis(host="127.0.0.1", port=6379)
        keys = [k async for k in redis.scan_iter(f"{namespace}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    assert result.is_error is False, result.content
    assert result.structured_content == {"city": "Lima", "sky": "clear"}
    assert "forecast: tool_call_completed (look_up_sky)" in notes

"""The public faces of murmur-client and murmur-server are deliberate and light to import."""

from __future__ import annotations

import subprocess
import sys

import murmur_client
import murmur_server

CLIENT = {
    "RESULT_WAIT_MAX",
    "TOKEN_ENV_VAR",
    "AgentInfo",
    "BudgetInfo",
    "ErrorInfo",
    "ErrorResponse",
    "EventBroadcaster",
    "GroupInfo",
    "Health",
    "Lagged",
    "LocalClient",
    "MurmurClient",
    "Readiness",
    "RunInfo",
    "RunKind",
    "RunPage",
    "RunProgress",
    "RunResult",
    "RunStatus",
    "RunTreeNode",
    "RuntimeClient",
    "RuntimeStats",
    "ServerSentEvent",
    "StartGatherRequest",
    "StartGroupRequest",
    "StartRunRequest",
    "Subscription",
    "TimeBound",
    "ToolStat",
    "ToolsReport",
    "UsageGroupBy",
    "UsageReport",
    "UsageRow",
    "WorkerInfo",
    "parse_sse",
}
SERVER = {
    "DEFAULT_MAX_BODY_BYTES",
    "TOKEN_ENV_VAR",
    "BackgroundServer",
    "SSEEventEmitter",
    "create_app",
    "create_router",
    "is_loopback",
    "require_token_for_host",
    "serve_without_token",
}


def test_exported_names_are_exactly_the_intended_ones() -> None:
    """`__all__` lists the public names, and every one of them resolves."""
    assert set(murmur_client.__all__) == CLIENT
    assert set(murmur_server.__all__) == SERVER
    for module in (murmur_client, murmur_server):
        for name in module.__all__:
            assert getattr(module, name) is not None


def test_clients_share_one_interface() -> None:
    """MurmurClient and LocalClient both implement RuntimeClient."""
    assert issubclass(murmur_client.MurmurClient, murmur_client.RuntimeClient)
    assert issubclass(murmur_client.LocalClient, murmur_client.RuntimeClient)


def test_the_sse_emitter_is_reachable_from_murmur_events() -> None:
    """`from murmur.events import SSEEventEmitter` finds the plugin's emitter."""
    from murmur.events import SSEEventEmitter

    assert SSEEventEmitter is murmur_server.SSEEventEmitter


def test_importing_stays_light() -> None:
    """Importing the packages (and the command modules) pulls in no HTTP stack."""
    code = (
        "import sys, murmur_client, murmur_server, murmur_server.commands;"
        "heavy = {'httpx', 'fastapi', 'starlette', 'uvicorn', 'rich', 'pydantic_ai'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

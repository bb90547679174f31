"""Every route of the HTTP API, over a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from murmur import AgentRuntime

from ._agents import Finding


async def start(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(path, json=body)
    assert response.status_code == 202, response.text
    return response.json()


async def poll(http: httpx.AsyncClient, run_id: str, within: float = 30) -> dict[str, Any]:
    """GET /runs/{id} until the run is finished."""
    deadline = time.monotonic() + within
    while True:
        info = (await http.get(f"/runs/{run_id}")).json()
        if info["status"] in ("completed", "failed", "cancelled"):
            return info
        assert time.monotonic() < deadline, f"run {run_id} still {info['status']}"
        await asyncio.sleep(0.02)


async def result(http: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await http.get(f"/runs/{run_id}/result", params={"wait": 30})
    assert response.status_code == 200, response.text
    return response.json()


async def test_agents_are_listed_with_their_json_schemas(http: httpx.AsyncClient) -> None:
    """GET /agents lists every agent with its input and output schema."""
    agents = {a["name"]: a for a in (await http.get("/agents")).json()}
    assert {"echo", "finder", "strict", "broken", "slow", "researcher"} <= set(agents)
    assert agents["echo"]["input_schema"] is None
    assert agents["echo"]["output_schema"] == {"type": "string"}
    assert agents["echo"]["description"] == "Echoes its input."
    assert set(agents["strict"]["input_schema"]["properties"]) == {"text"}
    assert set(agents["finder"]["output_schema"]["properties"]) == {"answer", "confidence"}
    assert agents["researcher"]["tools"] == ["lookup"]


async def test_groups_are_listed_with_entry_and_terminal_nodes(http: httpx.AsyncClient) -> None:
    """GET /groups lists each group's agents, entry and terminal nodes and schemas."""
    (group,) = (await http.get("/groups")).json()
    assert group["name"] == "pipeline"
    assert group["agents"] == ["first", "second"]
    assert (group["entry"], group["terminal"]) == (["first"], ["second"])
    assert set(group["output_schema"]["properties"]) == {"answer", "confidence"}


async def test_a_background_run_is_polled_to_completion(http: httpx.AsyncClient) -> None:
    """POST /runs returns a run id at once; polling GET /runs/{id} sees it complete."""
    run = await start(http, "/runs", {"agent": "finder", "input": "nats"})
    assert run["status"] == "pending"
    assert run["kind"] == "agent"
    info = await poll(http, run["run_id"])
    assert info["status"] == "completed"
    assert info["progress"] == {"total": 1, "completed": 1, "failed": 0}
    body = await result(http, run["run_id"])
    assert body["ok"] is True
    assert Finding.model_validate(body["output"]) == Finding(answer="about nats", confidence=0.9)
    assert body["metadata"]["input_tokens"] > 0


async def test_result_of_a_running_run_is_409_until_it_finishes(
    http: httpx.AsyncClient, gate: asyncio.Event
) -> None:
    """GET /runs/{id}/result is a typed 409 while the run runs; ?wait= long-polls."""
    run = await start(http, "/runs", {"agent": "slow", "input": "x"})
    early = await http.get(f"/runs/{run['run_id']}/result")
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "run_not_finished"
    asyncio.get_running_loop().call_later(0.2, gate.set)
    body = await result(http, run["run_id"])
    assert body["output"] == "released:x"


async def test_a_failed_run_returns_its_typed_error(http: httpx.AsyncClient) -> None:
    """A run whose model fails ends `failed` with a typed error, not a 500."""
    run = await start(http, "/runs", {"agent": "broken", "input": "x"})
    body = await result(http, run["run_id"])
    assert body["ok"] is False
    assert body["status"] == "failed"
    assert body["error"]["type"] == "SpawnError"
    assert "the model is down" in body["error"]["message"]
    info = await poll(http, run["run_id"])
    assert info["error"]["code"] == body["error"]["code"]


async def test_inputs_are_validated_against_the_agents_input_type(
    http: httpx.AsyncClient,
) -> None:
    """A typed agent's input is checked before the run starts: bad input is a typed 422."""
    bad = await http.post("/runs", json={"agent": "strict", "input": {"wrong": 1}})
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert (error["type"], error["code"]) == ("SpawnError", "input_invalid")
    assert "text" in error["message"]
    run = await start(http, "/runs", {"agent": "strict", "input": {"text": "q"}})
    assert (await result(http, run["run_id"]))["output"]["answer"].startswith("about")


async def test_a_gather_runs_every_input_and_keeps_order(http: httpx.AsyncClient) -> None:
    """POST /runs/gather runs one task per input; results, progress and tree follow."""
    run = await start(
        http, "/runs/gather", {"agent": "echo", "inputs": ["a", "b", "c"], "max_concurrency": 2}
    )
    assert run["kind"] == "gather"
    assert run["progress"]["total"] == 3
    body = await result(http, run["run_id"])
    assert body["ok"] is True
    assert [item["output"] for item in body["items"]] == ["echo:a", "echo:b", "echo:c"]
    info = (await http.get(f"/runs/{run['run_id']}")).json()
    assert info["progress"] == {"total": 3, "completed": 3, "failed": 0}
    tree = (await http.get(f"/runs/{run['run_id']}/tree")).json()
    assert tree["status"] == "completed"
    assert sorted(c["agent_name"] for c in tree["children"]) == ["echo"] * 3


async def test_a_gather_with_failures_reports_each_item(http: httpx.AsyncClient) -> None:
    """A gather where some tasks fail is `failed`, and its items say which and why."""
    run = await start(http, "/runs/gather", {"agent": "picky", "inputs": ["fine", "bad", "ok"]})
    body = await result(http, run["run_id"])
    assert (body["status"], body["ok"]) == ("failed", False)
    assert body["error"]["code"] == "partial_failure"
    assert [item["ok"] for item in body["items"]] == [True, False, True]
    assert [item["output"] for item in body["items"]] == ["ok:fine", None, "ok:ok"]
    assert body["items"][1]["error"]["type"] == "SpawnError"
    info = (await http.get(f"/runs/{run['run_id']}")).json()
    assert info["progress"] == {"total": 3, "completed": 2, "failed": 1}
    everything_bad = await start(http, "/runs/gather", {"agent": "picky", "inputs": ["bad"]})
    error = (await result(http, everything_bad["run_id"]))["error"]
    assert (error["type"], error["code"]) == ("AllAgentsFailedError", "all_failed")


async def test_a_group_run_returns_the_terminal_output(http: httpx.AsyncClient) -> None:
    """POST /runs/group runs the DAG; the result is the terminal node's output."""
    run = await start(http, "/runs/group", {"group": "pipeline", "input": "q"})
    assert run["kind"] == "group"
    assert run["group_name"] == "pipeline"
    body = await result(http, run["run_id"])
    assert body["ok"] is True, body
    assert body["output"] == {"answer": "about echo:q", "confidence": 0.9}
    assert body["metadata"]["nodes"] == {"first": "completed", "second": "completed"}
    tree = (await http.get(f"/runs/{run['run_id']}/tree")).json()
    assert tree["agent_name"] == "pipeline"
    assert sorted(c["agent_name"] for c in tree["children"]) == ["first", "second"]


async def test_runs_are_filtered_and_paginated(http: httpx.AsyncClient) -> None:
    """GET /runs filters by agent, kind and status, newest first, with next_offset."""
    for text in ("one", "two", "three"):
        run = await start(http, "/runs", {"agent": "echo", "input": text})
        await poll(http, run["run_id"])
    gathered = await start(http, "/runs/gather", {"agent": "finder", "inputs": ["x"]})
    await poll(http, gathered["run_id"])
    first = (await http.get("/runs", params={"agent": "echo", "limit": 2})).json()
    assert len(first["runs"]) == 2
    assert first["next_offset"] == 2
    assert first["runs"][0]["created_at"] >= first["runs"][1]["created_at"]
    rest = (await http.get("/runs", params={"agent": "echo", "limit": 2, "offset": 2})).json()
    assert len(rest["runs"]) == 1
    assert rest["next_offset"] is None
    gathers = (await http.get("/runs", params={"kind": "gather"})).json()["runs"]
    assert [r["run_id"] for r in gathers] == [gathered["run_id"]]
    children = await http.get("/runs", params={"parent_trace_id": gathered["run_id"]})
    assert [r["agent_name"] for r in children.json()["runs"]] == ["finder"]
    done = (await http.get("/runs", params={"status": "completed", "limit": 1000})).json()
    assert all(r["status"] == "completed" for r in done["runs"])


async def test_a_run_id_is_an_idempotency_key(http: httpx.AsyncClient) -> None:
    """Starting a run with an existing run_id returns that run; another agent gets 409."""
    run_id = "0123456789abcdef0123456789abcdef"
    first = await start(http, "/runs", {"agent": "echo", "input": "x", "run_id": run_id})
    again = await start(http, "/runs", {"agent": "echo", "input": "x", "run_id": run_id})
    assert first["run_id"] == again["run_id"] == run_id
    clash = await http.post("/runs", json={"agent": "finder", "run_id": run_id})
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "run_exists"
    assert (await result(http, run_id))["output"] == "echo:x"


async def test_cancelling_a_run_stops_it(http: httpx.AsyncClient) -> None:
    """POST /runs/{id}/cancel cancels a running gather and the runs below it."""
    run = await start(http, "/runs/gather", {"agent": "slow", "inputs": ["a", "b"]})
    run_id = run["run_id"]
    deadline = time.monotonic() + 20
    while (await http.get("/runs", params={"parent_trace_id": run_id})).json()["runs"] == []:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    cancelled = await http.post(f"/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    body = await result(http, run_id)
    assert body["ok"] is False
    assert body["error"]["code"] == "cancelled"
    assert {item["status"] for item in body["items"]} == {"cancelled"}
    children = (await http.get("/runs", params={"parent_trace_id": run_id})).json()["runs"]
    assert {c["status"] for c in children} == {"cancelled"}
    again = await http.post(f"/runs/{run_id}/cancel")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "run_finished"
    stats = (await http.get("/runtime/stats")).json()
    assert stats["cancelled"] >= 1
    assert stats["in_flight"] == 0


async def test_the_tree_shows_runs_spawned_by_a_tool(http: httpx.AsyncClient) -> None:
    """GET /runs/{id}/tree nests a run started from inside an agent's tool."""
    run = await start(http, "/runs", {"agent": "manager", "input": "hi"})
    body = await result(http, run["run_id"])
    assert body["output"] == "found:echo:hi"
    tree = (await http.get(f"/runs/{run['run_id']}/tree")).json()
    assert tree["agent_name"] == "manager"
    assert [(c["agent_name"], c["status"]) for c in tree["children"]] == [("echo", "completed")]


async def test_runtime_stats_count_runs_and_budget(
    http: httpx.AsyncClient, gate: asyncio.Event, runtime: AgentRuntime
) -> None:
    """GET /runtime/stats: in flight, completed, failed, background runs, budget used."""
    for agent in ("echo", "broken"):
        await result(http, (await start(http, "/runs", {"agent": agent, "input": "x"}))["run_id"])
    slow = await start(http, "/runs", {"agent": "slow", "input": "x"})
    deadline = time.monotonic() + 20
    while (stats := (await http.get("/runtime/stats")).json())["in_flight"] < 1:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert stats["completed"] == 1
    assert stats["failed"] == 1
    assert stats["background_runs"] == 1
    assert stats["backend"] == "async"
    assert stats["input_tokens"] > 0
    assert stats["budget"]["name"] == "server-tests"
    assert stats["budget"]["used"] == stats["input_tokens"] + stats["output_tokens"]
    assert stats["budget"]["remaining"] == 1_000_000 - stats["budget"]["used"]
    gate.set()
    await result(http, slow["run_id"])
    stats = (await http.get("/runtime/stats")).json()
    assert (stats["in_flight"], stats["completed"], stats["background_runs"]) == (0, 2, 0)


async def test_usage_is_grouped_and_bounded_in_time(http: httpx.AsyncClient) -> None:
    """GET /usage sums tokens by agent, model, run tree or not at all, in a time range."""
    gathered = await start(http, "/runs/gather", {"agent": "echo", "inputs": ["a", "b"]})
    await result(http, gathered["run_id"])
    single = await start(http, "/runs", {"agent": "finder", "input": "c"})
    await result(http, single["run_id"])
    by_agent = (await http.get("/usage", params={"group_by": "agent"})).json()
    rows = {r["key"]: r for r in by_agent["rows"]}
    assert (rows["echo"]["runs"], rows["finder"]["runs"]) == (2, 1)
    assert by_agent["total"]["total_tokens"] == sum(r["total_tokens"] for r in rows.values())
    by_trace = (await http.get("/usage", params={"group_by": "trace"})).json()
    traces = {r["key"]: r["runs"] for r in by_trace["rows"]}
    assert traces == {gathered["run_id"]: 2, single["run_id"]: 1}
    by_model = (await http.get("/usage", params={"group_by": "model"})).json()
    assert sum(r["runs"] for r in by_model["rows"]) == 3
    flat = (await http.get("/usage", params={"group_by": "none"})).json()
    assert [r["key"] for r in flat["rows"]] == [None]
    past = (await http.get("/usage", params={"until": "2001-01-01T00:00:00"})).json()
    assert (past["rows"], past["total"]["runs"]) == ([], 0)
    since = datetime.fromtimestamp(time.time() - 600, UTC).isoformat()
    recent = (await http.get("/usage", params={"since": since})).json()
    assert recent["total"]["runs"] == 3


async def test_tools_report_call_counts_and_latency_percentiles(http: httpx.AsyncClient) -> None:
    """GET /tools gives per-tool calls and p50 <= p95 <= p99 from tool-call events."""
    runs = [await start(http, "/runs", {"agent": "researcher", "input": q}) for q in "abc"]
    outputs = [(await result(http, run["run_id"]))["output"] for run in runs]
    assert outputs == ["found:A", "found:B", "found:C"]
    (tool,) = (await http.get("/tools")).json()["tools"]
    assert (tool["name"], tool["calls"], tool["failed"]) == ("lookup", 3, 0)
    assert 0 <= tool["p50_ms"] <= tool["p95_ms"] <= tool["p99_ms"] <= tool["max_ms"]


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    """/healthz answers ok; /readyz checks the runtime and the store."""
    health = (await http.get("/healthz")).json()
    assert health["status"] == "ok"
    ready = (await http.get("/readyz")).json()
    assert ready == {"ready": True, "checks": {"runtime": "ok", "store": "ok"}}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/runs/nope", None, 404, "run_not_found"),
        ("GET", "/runs/nope/result", None, 404, "run_not_found"),
        ("GET", "/runs/nope/tree", None, 404, "run_not_found"),
        ("POST", "/runs/nope/cancel", None, 404, "run_not_found"),
        ("POST", "/runs", {"agent": "ghost"}, 404, "not_found"),
        ("POST", "/runs/group", {"group": "ghost"}, 404, "not_found"),
        ("POST", "/runs", {"input": "no agent"}, 422, "invalid_request"),
        ("POST", "/runs", {"agent": "echo", "run_id": "NOT-HEX"}, 422, "invalid_request"),
        (
            "POST",
            "/runs/gather",
            {"agent": "echo", "inputs": "x", "max_concurrency": 0},
            422,
            "invalid_request",
        ),
        ("GET", "/runs?limit=0", None, 422, "invalid_request"),
        ("GET", "/usage?group_by=week", None, 422, "invalid_request"),
        ("GET", "/usage?since=2030-01-01&until=2020-01-01", None, 422, "invalid_range"),
        ("GET", "/nowhere", None, 404, "no_route"),
        ("DELETE", "/runs", None, 405, "method_not_allowed"),
    ],
)
async def test_bad_requests_get_typed_json_errors(
    http: httpx.AsyncClient, method: str, path: str, body: Any, status: int, code: str
) -> None:
    """Bad input gets a typed 4xx `{"error": {type, message, code}}`, never a traceback."""
    response = await http.request(method, path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["type"]
    assert "Traceback" not in response.text


async def test_malformed_json_is_a_typed_422(http: httpx.AsyncClient) -> None:
    """A body that is not JSON gets a typed 422."""
    response = await http.post(
        "/runs", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"

"""One scenario, two clients: code written against `RuntimeClient` runs against either."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from murmur_client import (
    AgentInfo,
    LocalClient,
    MurmurClient,
    RunResult,
    RuntimeClient,
    RuntimeStats,
    UsageReport,
)

from murmur import AgentRuntime
from murmur.core.errors import MurmurError, RegistryError, SpawnError
from murmur.events import EventType

from ..server._agents import Finding, Question


async def test_a_typed_run_round_trips(client: RuntimeClient) -> None:
    """start_run + wait(output_type=...) gives the typed output."""
    run = await client.start_run("finder", "nats", metadata={"team": "infra"})
    assert run.agent_name == "finder"
    result = await client.wait(run.run_id, timeout=30, output_type=Finding)
    assert isinstance(result, RunResult)
    assert result.output == Finding(answer="about nats", confidence=0.9)
    assert result.unwrap().confidence == 0.9
    info = await client.get_run(run.run_id)
    assert (info.status, info.finished, info.metadata["team"]) == ("completed", True, "infra")


async def test_typed_inputs_are_accepted_and_checked(client: RuntimeClient) -> None:
    """A pydantic input is sent as JSON; a bad one raises SpawnError(input_invalid)."""
    run = await client.start_run("strict", Question(text="why"))
    result = await client.wait(run.run_id, output_type=Finding)
    assert result.unwrap().answer == 'about {"text":"why"}'
    with pytest.raises(SpawnError) as caught:
        await client.start_run("strict", {"nope": 1})
    assert caught.value.code == "input_invalid"


async def test_gathers_and_groups(client: RuntimeClient) -> None:
    """start_gather gives one typed item per input; start_group the terminal output."""
    gathered = await client.start_gather("finder", ["a", "b"], max_concurrency=1)
    result = await client.wait(gathered.run_id, output_type=Finding)
    assert [item.output for item in result.items] == [
        Finding(answer="about a", confidence=0.9),
        Finding(answer="about b", confidence=0.9),
    ]
    assert (await client.get_run(gathered.run_id)).progress.completed == 2
    grouped = await client.start_group("pipeline", "q")
    group_result = await client.wait(grouped.run_id, output_type=Finding)
    assert group_result.output == Finding(answer="about echo:q", confidence=0.9)
    tree = await client.tree(grouped.run_id)
    assert sorted(c.agent_name or "" for c in tree.children) == ["first", "second"]


async def test_errors_are_the_same_typed_errors(client: RuntimeClient, gate: asyncio.Event) -> None:
    """Unknown agent, unknown run, unfinished run, wait timeout: same types and codes."""
    with pytest.raises(RegistryError) as unknown:
        await client.start_run("ghost")
    assert unknown.value.code == "not_found"
    with pytest.raises(MurmurError) as missing:
        await client.get_run("f" * 32)
    assert missing.value.code == "run_not_found"
    run = await client.start_run("slow", "x")
    with pytest.raises(MurmurError) as early:
        await client.result(run.run_id)
    assert early.value.code == "run_not_finished"
    with pytest.raises(MurmurError) as late:
        await client.wait(run.run_id, timeout=0.2)
    assert late.value.code == "wait_timeout"
    gate.set()
    assert (await client.wait(run.run_id, timeout=30)).output == "released:x"
    failed = await client.wait((await client.start_run("broken", "x")).run_id)
    assert (failed.ok, failed.error and failed.error.type) == (False, "SpawnError")
    with pytest.raises(SpawnError):
        failed.unwrap()


async def test_cancel(client: RuntimeClient) -> None:
    """cancel() stops a running run; its result is the typed `cancelled` error."""
    run = await client.start_run("slow", "x")
    cancelled = await client.cancel(run.run_id)
    assert cancelled.status == "cancelled"
    result = await client.result(run.run_id)
    assert (result.ok, result.error and result.error.code) == (False, "cancelled")
    with pytest.raises(MurmurError) as again:
        await client.cancel(run.run_id)
    assert again.value.code == "run_finished"


async def test_events_stream_as_an_async_iterator(client: RuntimeClient) -> None:
    """events(trace_id=...) yields the run's RuntimeEvents as they happen."""
    run_id = "ab" * 16
    stream = client.events(
        trace_id=run_id, types=[EventType.AGENT_SPAWNED, EventType.AGENT_COMPLETED]
    )
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.3)  # subscribed
    await client.start_run("echo", "streamed", run_id=run_id)
    events = [await asyncio.wait_for(first, 30), await asyncio.wait_for(anext(stream), 30)]
    assert [e.event_type for e in events] == [EventType.AGENT_SPAWNED, EventType.AGENT_COMPLETED]
    assert {e.trace_id for e in events} == {run_id}
    await stream.aclose()


async def test_catalogue_stats_usage_tools(client: RuntimeClient) -> None:
    """agents, groups, runs, stats, usage, tools, health and ready are typed models."""
    agents = await client.agents()
    assert all(isinstance(a, AgentInfo) for a in agents)
    assert "echo" in {a.name for a in agents}
    assert [g.name for g in await client.groups()] == ["pipeline"]
    for text in ("a", "b"):
        await client.wait((await client.start_run("researcher", text)).run_id)
    page = await client.runs(agent="researcher", limit=1)
    assert (len(page.runs), page.next_offset) == (1, 1)
    stats = await client.stats()
    assert isinstance(stats, RuntimeStats)
    assert (stats.completed, stats.failed, stats.in_flight) == (2, 0, 0)
    assert stats.budget is not None
    assert stats.budget.used > 0
    usage = await client.usage(group_by="agent", since=time.time() - 60)
    assert isinstance(usage, UsageReport)
    assert {r.key: r.runs for r in usage.rows} == {"researcher": 2}
    (tool,) = (await client.tools()).tools
    assert (tool.name, tool.calls) == ("lookup", 2)
    assert (await client.health()).status == "ok"
    assert (await client.ready()).ready


async def scenario(client: RuntimeClient) -> dict[str, Any]:
    """Code written once against the interface."""
    run = await client.start_gather("echo", ["x", "y"])
    result = await client.wait(run.run_id)
    usage = await client.usage(group_by="trace")
    return {
        "outputs": [i.output for i in result.items],
        "status": (await client.get_run(run.run_id)).status,
        "runs_in_this_tree": {r.key: r.runs for r in usage.rows}.get(run.run_id),
    }


async def test_the_same_code_gives_the_same_answers_on_both_clients(runtime: AgentRuntime) -> None:
    """A function written against RuntimeClient returns the same over HTTP and in-process."""
    from murmur_server import BackgroundServer, create_app

    from ..server._agents import TOKEN, build_runtime

    local_result = await scenario(LocalClient(runtime))
    other = build_runtime()
    async with (
        BackgroundServer(create_app(other, token=TOKEN)) as server,
        MurmurClient(server.url, token=TOKEN) as http,
    ):
        http_result = await scenario(http)
    await other.aclose()
    expected = {"outputs": ["echo:x", "echo:y"], "status": "completed", "runs_in_this_tree": 2}
    assert local_result == http_result == expected


async def test_murmur_client_events_reconnect_and_resume_after_a_restart(
    runtime: AgentRuntime,
) -> None:
    """MurmurClient.events() rides out a server restart: it reconnects with Last-Event-ID."""
    from murmur_server import BackgroundServer, create_app

    from ..server._agents import TOKEN

    app = create_app(runtime, token=TOKEN, ping_interval=0.5)
    first = BackgroundServer(app)
    await first.start()
    states: list[str] = []
    async with MurmurClient(first.url, token=TOKEN, reconnect_delay=0.05) as http:
        stream = http.events(types=["agent_completed"], on_state=states.append)
        pending = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.3)
        before = await runtime.run("echo", "before")
        got = [await asyncio.wait_for(pending, 30)]
        await first.stop()
        during = await runtime.run("echo", "during")  # stored while no server runs
        second = BackgroundServer(app, port=first.port)
        await second.start()
        try:
            got.append(await asyncio.wait_for(anext(stream), 30))
            after = await runtime.run("echo", "after")
            got.append(await asyncio.wait_for(anext(stream), 30))
        finally:
            await stream.aclose()
            await second.stop()
    assert [e.trace_id for e in got] == [before.trace_id, during.trace_id, after.trace_id]
    assert states[0] == states[-1] == "connected"
    assert "disconnected" in states


async def test_concurrent_starts_with_one_run_id_start_one_run(client: RuntimeClient) -> None:
    """Five simultaneous starts with the same run_id give one run, executed once."""
    run_id = "cd" * 16
    started = await asyncio.gather(
        *(client.start_run("echo", "once", run_id=run_id) for _ in range(5))
    )
    assert {run.run_id for run in started} == {run_id}
    assert (await client.wait(run_id)).output == "echo:once"
    stats = await client.stats()
    assert stats.completed == 1


async def test_inputs_no_store_can_hold_are_refused_by_both_clients(
    client: RuntimeClient,
) -> None:
    """NaN, a lone surrogate or nesting past 64 levels in an input or metadata is a typed
    `input_invalid` error from either client, and no run is recorded."""
    deep: object = "leaf"
    for _ in range(70):
        deep = [deep]
    before = [r.run_id for r in (await client.runs(limit=1000)).runs]
    for start in (
        client.start_run("echo", float("nan")),
        client.start_run("echo", "a\ud800b"),
        client.start_run("echo", deep),
        client.start_run("echo", "ok", metadata={"score": float("inf")}),
        client.start_run("echo", "ok", metadata={"\udc00": 1}),
        client.start_gather("echo", ["ok", {"x": float("-inf")}]),
        client.start_group("pipeline", deep),
    ):
        with pytest.raises(MurmurError) as caught:
            await start
        assert caught.value.code == "input_invalid", caught.value.message
    after = [r.run_id for r in (await client.runs(limit=1000)).runs]
    assert after == before
    run = await client.start_run("echo", {"fine": [1.5, "text", None]}, metadata={"k": "v"})
    assert (await client.wait(run.run_id, timeout=30)).ok


async def test_runs_filter_by_time_range_and_text(client: RuntimeClient) -> None:
    """`runs(since=, until=, q=)`: newest first, by creation time and by id/name/error text."""
    before = time.time()
    ok = await client.start_run("echo", "first")
    await client.wait(ok.run_id, timeout=10)
    middle = time.time()
    await asyncio.sleep(0.02)
    bad = await client.start_run("broken", "second")
    await client.wait(bad.run_id, timeout=10)

    assert [r.run_id for r in (await client.runs(since=middle)).runs] == [bad.run_id]
    assert [r.run_id for r in (await client.runs(since=before, until=middle)).runs] == [ok.run_id]
    assert [r.run_id for r in (await client.runs(q="BROK")).runs] == [bad.run_id]
    assert [r.run_id for r in (await client.runs(q="model is down")).runs] == [bad.run_id]
    assert [r.run_id for r in (await client.runs(q=ok.run_id[:12])).runs] == [ok.run_id]
    first = await client.runs(since=before, limit=1)
    assert [r.run_id for r in first.runs] == [bad.run_id]
    assert first.next_offset == 1
    second = await client.runs(since=before, limit=1, offset=1)
    assert ([r.run_id for r in second.runs], second.next_offset) == ([ok.run_id], None)
    with pytest.raises(MurmurError) as caught:
        await client.runs(since=middle, until=before)
    assert caught.value.code == "invalid_range"

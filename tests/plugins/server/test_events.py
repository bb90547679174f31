"""`/events/stream`: live SSE over real HTTP, filters, and resume with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from murmur_client import MurmurClient
from murmur_server import BackgroundServer, SSEEventEmitter, create_app

from murmur import Agent, AgentRuntime, RuntimeEvent
from murmur.core.errors import MurmurError
from murmur.events import EventType, NullEventEmitter
from murmur.worker import Worker

from ._agents import TOKEN, echo_model

AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def sse(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(id, data) of each event of a text/event-stream response (pings skipped)."""
    event_id, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            assert event_id is not None
            yield event_id, json.loads("\n".join(data))
            event_id, data = None, []


Events = AsyncIterator[tuple[str, dict[str, Any]]]


async def collect(
    events: Events, until: EventType, count: int = 1
) -> list[tuple[str, dict[str, Any]]]:
    """Events up to the `count`-th of type `until`."""
    out = []
    async with asyncio.timeout(30):
        async for item in events:
            out.append(item)
            if sum(1 for _, e in out if e["event_type"] == until) >= count:
                return out
    raise AssertionError(f"stream ended before {count} {until}")


async def wait_subscribed(http: httpx.AsyncClient, count: int = 1) -> None:
    for _ in range(2000):
        if (await http.get("/runtime/stats")).json()["subscribers"] >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the stream never subscribed")


async def test_live_events_arrive_over_sse(
    server: BackgroundServer, http: httpx.AsyncClient
) -> None:
    """A real HTTP client on /events/stream sees a run's events as they happen."""
    async with http.stream("GET", "/events/stream") as response:
        events = sse(response)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        await wait_subscribed(http)
        run = (await http.post("/runs", json={"agent": "echo", "input": "hi"})).json()
        got = await collect(events, EventType.AGENT_COMPLETED)
    types = [e["event_type"] for _, e in got]
    assert types == ["agent_spawned", "agent_completed"]
    for event_id, event in got:
        assert event_id == event["id"]
        assert event["trace_id"] == run["run_id"]
        assert RuntimeEvent.model_validate(event).agent_name == "echo"


async def test_the_stream_filters_by_agent_type_and_run_tree(
    server: BackgroundServer, http: httpx.AsyncClient
) -> None:
    """?agent=, ?type= and ?trace_id= (a run and the runs it spawned) filter the stream."""
    params = {"agent": "echo", "type": "agent_completed"}
    async with http.stream("GET", "/events/stream", params=params) as response:
        events = sse(response)
        await wait_subscribed(http)
        await http.post("/runs", json={"agent": "finder", "input": "skip me"})
        await http.post("/runs", json={"agent": "echo", "input": "keep me"})
        ((_, only),) = await collect(events, EventType.AGENT_COMPLETED)
    assert (only["agent_name"], only["event_type"]) == ("echo", "agent_completed")

    run_id = uuid.uuid4().hex
    async with http.stream("GET", "/events/stream", params={"trace_id": run_id}) as response:
        events = sse(response)
        await wait_subscribed(http)
        await http.post("/runs", json={"agent": "echo", "input": "other run"})
        body = {"agent": "echo", "inputs": ["a", "b"], "run_id": run_id}
        await http.post("/runs/gather", json=body)
        got = await collect(events, EventType.AGENT_COMPLETED, count=2)
    assert {e["parent_trace_id"] for _, e in got} == {run_id}
    assert len(got) == 4


async def test_a_client_resumes_with_last_event_id_after_a_server_restart(
    runtime: AgentRuntime,
) -> None:
    """After a restart, Last-Event-ID replays exactly the events missed, then goes live."""
    app = create_app(runtime, token=TOKEN, ping_interval=0.5)
    first = BackgroundServer(app)
    await first.start()
    async with (
        httpx.AsyncClient(base_url=first.url, headers=AUTH, timeout=30) as http,
        http.stream("GET", "/events/stream") as response,
    ):
        events = sse(response)
        await wait_subscribed(http)
        await http.post("/runs", json={"agent": "echo", "input": "before"})
        seen = await collect(events, EventType.AGENT_COMPLETED)
        await first.stop()
        async with asyncio.timeout(10):  # the stream ends with the server
            async for _ in events:
                pass
    missed = await runtime.run("echo", "while the server is down")
    assert missed.output == "echo:while the server is down"

    second = BackgroundServer(app, port=first.port)
    await second.start()
    try:
        async with httpx.AsyncClient(base_url=second.url, headers=AUTH, timeout=30) as http:
            headers = {"Last-Event-ID": seen[-1][0]}
            async with http.stream("GET", "/events/stream", headers=headers) as response:
                events = sse(response)
                replayed = await collect(events, EventType.AGENT_COMPLETED)
                await http.post("/runs", json={"agent": "echo", "input": "after"})
                live = await collect(events, EventType.AGENT_COMPLETED)
    finally:
        await second.stop()
    assert [e["trace_id"] for _, e in replayed] == [missed.trace_id] * 2
    assert [e["event_type"] for _, e in replayed] == ["agent_spawned", "agent_completed"]
    ids = [i for i, _ in seen + replayed + live]
    assert len(ids) == len(set(ids)) == 6


async def test_fleet_workers_heartbeats_and_events_reach_the_server() -> None:
    """On a worker fleet, worker heartbeats show in /runtime/stats and fleet events stream."""
    broker = f"memory://server-{uuid.uuid4().hex}"
    echo = Agent(name="echo", model=echo_model())
    worker_runtime = AgentRuntime(event_emitter=NullEventEmitter())
    worker = Worker(
        broker, [echo], heartbeat_interval=0.05, consumer_id="w-test", runtime=worker_runtime
    )
    worker_task = asyncio.create_task(worker.start())
    runtime = AgentRuntime(broker=broker, event_emitter=NullEventEmitter())
    runtime.register(echo)
    try:
        async with (
            BackgroundServer(create_app(runtime, token=TOKEN)) as server,
            httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=30) as http,
            http.stream("GET", "/events/stream") as response,
        ):
            events = sse(response)
            await wait_subscribed(http)
            run = (await http.post("/runs", json={"agent": "echo", "input": "x"})).json()
            got = await collect(events, EventType.WORKER_HEARTBEAT, count=2)
            result = await http.get(f"/runs/{run['run_id']}/result", params={"wait": 30})
            stats = (await http.get("/runtime/stats")).json()
    finally:
        await worker.stop()
        worker_task.cancel()
        await runtime.aclose()
        await worker_runtime.aclose()
    assert result.json()["output"] == "echo:x"
    beats = [e for _, e in got if e["event_type"] == "worker_heartbeat"]
    assert {e["payload"]["consumer_id"] for e in beats} == {"w-test"}
    (info,) = stats["workers"]
    assert (info["worker_id"], info["status"]) == ("w-test", "alive")
    assert info["last_heartbeat"] is not None
    assert stats["backend"] != "async"


async def test_the_sse_emitter_is_resolvable_by_name() -> None:
    """The `sse` entry point in `murmur.emitters` builds an SSEEventEmitter."""
    runtime = AgentRuntime(event_emitter=NullEventEmitter())
    emitter = runtime.plugins.resolve_emitter("sse", max_queue=7)
    assert isinstance(emitter, SSEEventEmitter)
    assert emitter.max_queue == 7


STORED = 33_000


@pytest.fixture
async def crowded(tmp_path: Path) -> AsyncIterator[tuple[BackgroundServer, list[RuntimeEvent]]]:
    """A server over a SQLite store that already holds 33,000 events."""
    runtime = AgentRuntime(
        store=f"sqlite:///{tmp_path}/events.db", event_emitter=NullEventEmitter()
    )
    runtime.register(Agent(name="echo", model=echo_model()))
    assert runtime.stores is not None
    stored = [
        RuntimeEvent(event_type=EventType.AGENT_SPAWNED, agent_name="bulk", trace_id=f"t{i % 97}")
        for i in range(STORED)
    ]
    for start in range(0, STORED, 1000):
        await runtime.stores.events.append_many(stored[start : start + 1000])
    async with BackgroundServer(create_app(runtime, token=TOKEN, ping_interval=0.5)) as server:
        yield server, stored
    await runtime.aclose()


async def test_resuming_from_an_unknown_or_too_old_id_is_refused_up_front(
    crowded: tuple[BackgroundServer, list[RuntimeEvent]],
) -> None:
    """Over 33,000 stored events, 20 subscribers resuming from ids the store does not hold
    get `404 event_not_found` (no replay of the whole store); more than 10,000 events
    behind is `410 resume_too_old`; exactly 10,000 behind is served."""
    server, stored = crowded
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=60) as http:

        async def status(headers: dict[str, str], params: dict[str, str]) -> httpx.Response:
            async with http.stream(
                "GET", "/events/stream", headers=headers, params=params
            ) as response:
                if response.status_code != 200:  # an error body; a stream is left unread
                    await response.aread()
                return response

        unknown = await asyncio.gather(
            *(
                status({"Last-Event-ID": f"gone-{i}"} if i % 2 else {}, {"after": f"gone-{i}"})
                for i in range(20)
            )
        )
        assert (await http.get("/healthz")).status_code == 200
        assert {r.status_code for r in unknown} == {404}
        assert {r.json()["error"]["code"] for r in unknown} == {"event_not_found"}
        too_old = await status({"Last-Event-ID": stored[-10_002].id}, {})
        assert too_old.status_code == 410
        error = too_old.json()["error"]
        assert (error["code"], error["details"]["max_replay"]) == ("resume_too_old", 10_000)
        assert "Reconnect without Last-Event-ID" in error["message"]
        edge = await status({"Last-Event-ID": stored[-10_001].id}, {})
        assert edge.status_code == 200


async def test_a_resume_replays_every_missed_event_in_pages_then_goes_live(
    crowded: tuple[BackgroundServer, list[RuntimeEvent]],
) -> None:
    """Resuming 1,500 events back (three store pages) sends exactly those events, in
    order, then live ones."""
    server, stored = crowded
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=60) as http:
        headers = {"Last-Event-ID": stored[-1501].id}
        async with http.stream("GET", "/events/stream", headers=headers) as response:
            assert response.status_code == 200
            events = sse(response)
            replayed = [await anext(events) for _ in range(1500)]
            run = (await http.post("/runs", json={"agent": "echo", "input": "live"})).json()
            live = await collect(events, EventType.AGENT_COMPLETED)
    assert [i for i, _ in replayed] == [e.id for e in stored[-1500:]]
    assert [(e["event_type"], e["trace_id"]) for _, e in live] == [
        ("agent_spawned", run["run_id"]),
        ("agent_completed", run["run_id"]),
    ]


async def test_murmur_client_reports_an_unknown_resume_id_instead_of_looping(
    crowded: tuple[BackgroundServer, list[RuntimeEvent]],
) -> None:
    """`MurmurClient.events(last_event_id=<unknown>)` raises the typed error at once."""
    server, _ = crowded
    async with MurmurClient(server.url, token=TOKEN) as client:
        stream = client.events(last_event_id="never-stored")
        with pytest.raises(MurmurError) as caught:
            await anext(stream)
    assert caught.value.code == "event_not_found"
    assert caught.value.details["status"] == 404

"""Agent processes through the client API: the run tree and the live event stream."""

from __future__ import annotations

import asyncio

import pytest
from murmur_client import LocalClient
from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel

from murmur import AgentRuntime, EventType, RuntimeEvent
from murmur.processes import agent, agent_process, emit, use_runtime


async def reply(messages, info):
    return ModelResponse(parts=[TextPart("hi")])


@agent_process
async def child() -> str:
    helper = await agent("helper", model=FunctionModel(reply))
    emit("greeting", "about to ask")
    return await helper.send("hello")


@agent_process
async def root() -> str:
    return await child()


async def test_the_run_tree_and_the_event_stream_show_processes(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """GET /runs/{execution id}/tree nests processes and agent runs; the live stream
    carries the process events."""
    monkeypatch.setenv("MURMUR_HOME", str(tmp_path_factory.mktemp("home")))
    runtime = AgentRuntime(store="memory://")
    async with LocalClient(runtime) as client:
        seen: list[RuntimeEvent] = []

        async def follow() -> None:
            async for event in client.events():
                seen.append(event)
                if event.event_type is EventType.PROCESS_DONE and event.agent_name == "root":
                    return

        following = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        with use_runtime(runtime):
            assert await root() == "hi"
        await asyncio.wait_for(following, 10)
        [started] = [
            e for e in seen if e.event_type is EventType.PROCESS_STARTED and e.agent_name == "root"
        ]
        tree = await client.tree(started.trace_id or "")
    assert (tree.agent_name, tree.status) == ("root", "completed")
    [node] = tree.children
    assert (node.agent_name, node.status) == ("child", "completed")
    assert [(c.agent_name, c.status) for c in node.children] == [("helper", "completed")]
    assert EventType.PROCESS_EMITTED in {e.event_type for e in seen}

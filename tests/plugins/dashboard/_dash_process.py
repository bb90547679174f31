"""A program running agent processes on the dashboard tests' SQLite store.

`python _dash_process.py <store url>` runs `supervise`, a root process that spawns the
`summarise` process (it exposes an endpoint, emits an event and, once called, asks the
FunctionModel agent `summariser`) and `check` under `restarting` (it fails once, then
passes), calls the child's endpoint and returns the child's result. It prints the result,
then the execution id (the root process's trace id).
"""

from __future__ import annotations

import asyncio
import sys

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from murmur import AgentRuntime, EventType
from murmur.events import CollectingEventEmitter
from murmur.processes import (
    agent,
    agent_process,
    emit,
    expose,
    fail,
    restarting,
    spawn,
    use_runtime,
)


def _summary(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(
        parts=[TextPart("summary: all fine")],
        usage=RequestUsage(input_tokens=100, output_tokens=20),
        provider_name="openai",
    )


@agent_process(timeout=30)
async def summarise(topic: str) -> str:
    """The child: exposes `status`, emits `ready`, and once asked returns what `summariser`
    answers."""
    asked = asyncio.Event()

    @expose(read_only=True)
    async def status() -> str:
        asked.set()
        return f"summarising {topic}"

    emit("ready", {"topic": topic})
    await asked.wait()
    writer = await agent("summariser", model=FunctionModel(_summary, model_name="gpt-4o-mini"))
    return await writer.send(topic)


_checks: list[str] = []


@agent_process
async def check(topic: str) -> str:
    """Fails the first time it runs (`fail`), passes the second."""
    _checks.append(topic)
    if len(_checks) == 1:
        fail("flaky the first time")
    return "checked"


@agent_process(timeout=30)
async def supervise(topic: str) -> str:
    """The root: spawns `summarise` and a restarting `check`, calls `summarise`'s endpoint
    once it is ready, and returns its result once both are done."""
    child = spawn(summarise, topic)
    checked = spawn(restarting(check, max_restarts=1, backoff_s=0.01), topic)
    async for event in child.events:
        if event.type == "ready":
            break
    await child.call("status")
    assert await checked == "checked"
    return await child


async def main(store: str) -> None:
    """Run `supervise` on `store`; print its result, then the execution id."""
    seen = CollectingEventEmitter()
    runtime = AgentRuntime(store=store, event_emitter=seen)
    try:
        with use_runtime(runtime):
            print(await supervise("brokers"))
    finally:
        await runtime.aclose()
    [root] = [e for e in seen.of_type(EventType.PROCESS_STARTED) if e.parent_trace_id is None]
    print(root.trace_id)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

"""A program whose root is an agent process, driven from outside with `murmur ps`."""

from __future__ import annotations

import asyncio

from pydantic_ai.messages import ModelResponse, TextPart
from pydantic_ai.models.function import FunctionModel

from murmur import AgentRuntime
from murmur.processes import agent, agent_process, done, emit, expose, wait


async def echo(messages, info):
    return ModelResponse(parts=[TextPart(f"echo: {messages[-1].parts[-1].content}")])


@agent_process(runtime=AgentRuntime(event_emitter=None))
async def main() -> str:
    await agent("helper", model=FunctionModel(echo))

    @expose
    async def add(a: int, b: int) -> int:
        emit("added", a + b)
        return a + b

    @expose(read_only=True)
    async def finish(note: str = "bye") -> str:
        done(note)
        return "finishing"

    print("READY", flush=True)
    return await wait()


if __name__ == "__main__":
    print("RESULT", asyncio.run(main()), flush=True)

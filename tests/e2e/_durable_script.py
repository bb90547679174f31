"""Run by tests/e2e/test_durable.py in a fresh interpreter:

    python _durable_script.py group|gather first|resume <store-url> <calls-file> <run-id>

`group` runs a three-node pipeline (a -> b -> c) under the trace id `<run-id>`; `gather`
runs one agent over 50 tasks under the batch run id `<run-id>`. Every model call appends
`<agent> <prompt> <phase>` to `<calls-file>` before answering. In the `first` phase node
`b` and the gather tasks from q20 on never answer, so the test can SIGKILL the process
mid-run; `resume` calls `runtime.resume(<run-id>)` and prints the result as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentGroup, AgentRuntime, Edge, TaskSpec
from murmur.events import NullEventEmitter
from murmur.groups import GroupResult

TASKS = 50
HANG_FROM = 20


class Answer(BaseModel):
    question: str
    answer: str


def _prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        for part in getattr(message, "parts", []):
            if getattr(part, "part_kind", None) == "user-prompt":
                return str(part.content)
    return ""


def counting_model(agent: str, phase: str, calls: str, *, hangs: Any) -> FunctionModel:
    """A model that logs each call to `calls`, and never answers when `hangs(prompt)`."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = _prompt(messages)
        fd = os.open(calls, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{agent} {prompt} {phase}\n".encode())
        finally:
            os.close(fd)
        if phase == "first" and hangs(prompt):
            await asyncio.sleep(3600)  # the test SIGKILLs the process meanwhile
        if info.output_tools:
            data = {"question": prompt, "answer": f"{agent}:{prompt}"}
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, data)])
        return ModelResponse(parts=[TextPart(f"{agent}({prompt})")])

    return FunctionModel(respond)


async def group(phase: str, url: str, calls: str, run_id: str) -> dict[str, Any]:
    runtime = AgentRuntime(store=url, event_emitter=NullEventEmitter())
    a, b, c = (
        Agent(name=n, model=counting_model(n, phase, calls, hangs=lambda _, n=n: n == "b"))
        for n in ("a", "b", "c")
    )
    runtime.register_group(
        AgentGroup(
            name="pipeline", topology={a: Edge(to=(b,)), b: Edge(to=(c,)), c: Edge.terminal()}
        )
    )
    try:
        if phase == "first":
            result = await runtime.run_group("pipeline", TaskSpec(input="go", trace_id=run_id))
        else:
            resumed = await runtime.resume(run_id)
            assert isinstance(resumed, GroupResult)
            result = resumed
        return {
            "ok": result.is_ok(),
            "output": result.output if result.is_ok() else None,
            "restored": sorted(n for n, r in result.nodes.items() if r.restored),
        }
    finally:
        await runtime.aclose()


async def gather(phase: str, url: str, calls: str, run_id: str) -> dict[str, Any]:
    runtime = AgentRuntime(store=url, event_emitter=NullEventEmitter())
    hangs = lambda prompt: int(prompt[1:]) >= HANG_FROM  # noqa: E731
    worker = runtime.register(
        Agent(
            name="worker",
            model=counting_model("worker", phase, calls, hangs=hangs),
            output_type=Answer,
        )
    )
    try:
        if phase == "first":
            tasks = [TaskSpec(input=f"q{i}") for i in range(TASKS)]
            results = await runtime.gather(worker, tasks, max_concurrency=5, run_id=run_id)
        else:
            resumed = await runtime.resume(run_id)
            assert isinstance(resumed, list)
            results = resumed
        return {
            "results": [
                {
                    "ok": r.is_ok(),
                    "question": r.output.question if r.is_ok() else None,
                    "typed": isinstance(r.output_or_none, Answer),
                    "task_id": r.task_id,
                }
                for r in results
            ]
        }
    finally:
        await runtime.aclose()


def main() -> None:
    mode, phase, url, calls, run_id = sys.argv[1:6]
    runner = group if mode == "group" else gather
    print(json.dumps(asyncio.run(runner(phase, url, calls, run_id))))


if __name__ == "__main__":
    main()

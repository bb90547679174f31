"""The agent the broker-agnostic worker-process tests run (`--app _fleet_proc_app:agents`).

Every execution appends `<pid> <n>` to the file named by `MURMUR_TEST_EXECUTIONS` (one
short `O_APPEND` write, atomic across processes), so a test counts what actually ran
without a shared database.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent


class Number(BaseModel):
    """The task input."""

    n: int


class Doubled(BaseModel):
    """The task output: the input doubled, and the process that did it."""

    n: int
    doubled: int
    pid: int


DELAY_S = float(os.environ.get("MURMUR_TEST_DELAY_S", "0.01"))


def _record(n: int) -> None:
    path = os.environ.get("MURMUR_TEST_EXECUTIONS")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {n}\n".encode())
        finally:
            os.close(fd)


async def double(messages: list[Any], info: AgentInfo) -> ModelResponse:
    """Parse the JSON input, record the execution, sleep a little, answer with the output."""
    number = Number.model_validate_json(str(messages[-1].parts[-1].content))
    _record(number.n)
    await asyncio.sleep(DELAY_S)
    args = {"n": number.n, "doubled": number.n * 2, "pid": os.getpid()}
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, json.dumps(args))])


doubler = Agent(name="doubler", model=FunctionModel(double), input_type=Number, output_type=Doubled)
agents = [doubler]

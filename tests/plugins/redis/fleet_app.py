"""The agents the worker processes of the Redis fleet tests run (`--app fleet_app:agents`).

Each execution increments `<namespace>:executed` in Redis (namespace from the
`MURMUR_TEST_NAMESPACE` environment variable), so a test can count what actually ran.
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


async def _count() -> None:
    namespace = os.environ.get("MURMUR_TEST_NAMESPACE")
    if namespace:
        import redis.asyncio as redis

        client = redis.Redis(host="127.0.0.1", port=6379)
        try:
            await client.incr(f"{namespace}:executed")  # ty: ignore[invalid-await]
        finally:
            await client.aclose()


async def double(messages: list[Any], info: AgentInfo) -> ModelResponse:
    """Parse the JSON input, sleep a little, answer with the output tool."""
    number = Number.model_validate_json(str(messages[-1].parts[-1].content))
    await _count()
    await asyncio.sleep(DELAY_S)
    args = {"n": number.n, "doubled": number.n * 2, "pid": os.getpid()}
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, json.dumps(args))])


doubler = Agent(name="doubler", model=FunctionModel(double), input_type=Number, output_type=Doubled)
agents = [doubler]

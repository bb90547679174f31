"""The agent a `murmur worker start` process runs in the murmur-mcp fleet test.

`clock` calls `time.get_current_time` on the `mcp-server-time` at `MURMUR_TEST_TIME_SERVER`:
the server is configured, started and owned on the worker.
"""

from __future__ import annotations

import os

from murmur_mcp import mcp_stdio
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent


def _respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    for part in messages[-1].parts:
        if isinstance(part, ToolReturnPart):
            return ModelResponse(parts=[TextPart(f"{os.getpid()}:{part.model_response_str()}")])
    return ModelResponse(parts=[ToolCallPart("get_current_time", {"timezone": "UTC"})])


agents = [
    Agent(
        name="clock",
        model=FunctionModel(_respond),
        mcp_servers=(mcp_stdio("time", os.environ.get("MURMUR_TEST_TIME_SERVER", "missing")),),
        tools=("time.get_current_time",),
    )
]

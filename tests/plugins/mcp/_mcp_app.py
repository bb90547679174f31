"""Agents the murmur-mcp server tests expose (`--app _mcp_app:agents`, run from this folder).

`forecast` takes a typed input and calls a native tool (so its run has tool events to relay
as progress); `sealed` is SANDBOX trust and tries a tool, so its run fails with a typed
`TrustViolationError`; `private` is registered but never exposed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentRuntime, TrustLevel


class City(BaseModel):
    """Which city."""

    city: str


class Forecast(BaseModel):
    """A forecast."""

    city: str
    sky: str


def _forecaster(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    for part in messages[-1].parts:
        if isinstance(part, ToolReturnPart):
            return ModelResponse(parts=[ToolCallPart("final_result", part.model_response_str())])
    prompt = messages[0].parts[-1]
    city = City.model_validate_json(str(getattr(prompt, "content", "{}"))).city
    return ModelResponse(parts=[ToolCallPart("look_up_sky", {"city": city})])


def _tries_a_tool(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if any(isinstance(p, ToolReturnPart) for p in messages[-1].parts):
        return ModelResponse(parts=[TextPart("done")])
    return ModelResponse(parts=[ToolCallPart("look_up_sky", {"city": "x"})])


def look_up_sky(city: str) -> dict[str, Any]:
    """The sky over a city."""
    return {"city": city, "sky": "clear"}


def build() -> AgentRuntime:
    """A runtime with three agents and one native tool."""
    runtime = AgentRuntime()
    runtime.tools.register("look_up_sky", look_up_sky, read_only=True)
    runtime.register(
        Agent(
            name="forecast",
            model=FunctionModel(_forecaster),
            description="Tomorrow's sky over a city.",
            input_type=City,
            output_type=Forecast,
            tools=("look_up_sky",),
        )
    )
    runtime.register(
        Agent(
            name="sealed",
            model=FunctionModel(_tries_a_tool),
            description="Never allowed a tool.",
            tools=("look_up_sky",),
            trust_level=TrustLevel.SANDBOX,
        )
    )
    runtime.register(Agent(name="private", model="test"))
    return runtime


runtime = build()


echo_agents = [Agent(name="echo", model="test", description="Answers with a canned string.")]
"""Plain agents for `--app _mcp_app:echo_agents` (the CLI builds the runtime, e.g. with --store)."""


fleet_agents = [runtime.agents["forecast"]]
"""`forecast` alone, for a caller on a broker (`murmur mcp serve --app _mcp_app:fleet_agents
--broker URL`): the caller registers no tools, so the call can only succeed on a worker."""

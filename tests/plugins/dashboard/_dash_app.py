"""What the dashboard tests serve: `murmur serve --app _dash_app:served` (this folder on the path).

FunctionModel agents (no LLM): a tool user, a failing agent, an orchestrator that spawns two
children through `spawn_agents`, and a two-node group.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from murmur import (
    Agent,
    AgentGroup,
    AgentRuntime,
    AgentTemplate,
    Edge,
    RuntimeOptions,
    TokenBudget,
)
from murmur.events import NullEventEmitter
from murmur.tools import make_spawn_agents_tool


class Finding(BaseModel):
    """A typed output."""

    topic: str
    summary: str


def _prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        for part in getattr(message, "parts", []):
            if getattr(part, "part_kind", None) == "user-prompt":
                return str(part.content)
    return ""


def _returned(messages: list[ModelMessage]) -> list[Any]:
    return [
        p.content
        for m in messages
        for p in getattr(m, "parts", [])
        if getattr(p, "part_kind", None) == "tool-return"
    ]


USAGE = RequestUsage(input_tokens=100, output_tokens=20)
"""What every model call of these agents reports (so the figures are predictable)."""

CHEAP = ("gpt-4o-mini", "openai")
SMART = ("claude-sonnet-4-5", "anthropic")
"""Names the responses carry, so pydantic-ai prices them (USD shows on the Costs page)."""


def _answer(parts: list[Any], priced_as: tuple[str, str]) -> ModelResponse:
    return ModelResponse(parts=parts, usage=USAGE, provider_name=priced_as[1])


def echo_model() -> FunctionModel:
    """Answers `echo:<prompt>`."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return _answer([TextPart("echo:" + _prompt(messages))], CHEAP)

    return FunctionModel(respond, model_name=CHEAP[0])


def finding_model() -> FunctionModel:
    """Answers a `Finding` about the prompt."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        data = {"topic": _prompt(messages)[:40], "summary": "fine"}
        if info.output_tools:
            return _answer([ToolCallPart(info.output_tools[0].name, data)], SMART)
        return _answer([TextPart(json.dumps(data))], SMART)

    return FunctionModel(respond, model_name=SMART[0])


def tool_model(tool: str, args: Any) -> FunctionModel:
    """Calls `tool(**args(prompt))` once, then answers with what it returned."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = _returned(messages)
        if not returns:
            return _answer([ToolCallPart(tool, args(_prompt(messages)))], CHEAP)
        return _answer([TextPart(f"done:{str(returns[-1])[:80]}")], CHEAP)

    return FunctionModel(respond, model_name=CHEAP[0])


def sleepy_model() -> FunctionModel:
    """Sleeps as many seconds as the prompt says, then answers (a run that stays in flight)."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await asyncio.sleep(min(float(_prompt(messages) or 0), 30))
        return _answer([TextPart("awake")], CHEAP)

    return FunctionModel(respond, model_name=CHEAP[0])


def broken_model() -> FunctionModel:
    """Fails every call."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("the model is down")

    return FunctionModel(respond, model_name="broken-0")


STORE_ENV = "MURMUR_DASHBOARD_TEST_STORE"
BROKER_ENV = "MURMUR_DASHBOARD_TEST_BROKER"


def served() -> AgentRuntime:
    """The runtime `murmur serve` exposes, with the store named by `MURMUR_DASHBOARD_TEST_STORE`
    (and the broker named by `MURMUR_DASHBOARD_TEST_BROKER`, if set).

    A ready runtime brings its own store (`murmur serve` refuses `--store` with one); the
    spawn tool needs the runtime, so this is a runtime rather than a list of agents.
    """
    runtime = AgentRuntime(
        event_emitter=NullEventEmitter(),
        store=os.environ.get(STORE_ENV),
        broker=os.environ.get(BROKER_ENV),
        options=RuntimeOptions(token_budget=TokenBudget(1_000_000, name="dashboard-tests")),
    )

    def lookup(query: str) -> str:
        return query.upper()

    runtime.tools.register("lookup", lookup, read_only=True)
    runtime.register(
        Agent(
            name="researcher",
            model=tool_model("lookup", lambda p: {"query": p}),
            tools=("lookup",),
            description="Looks things up.",
        )
    )
    runtime.register(Agent(name="echo", model=echo_model(), description="Echoes its input."))
    runtime.register(Agent(name="broken", model=broken_model(), description="Always fails."))
    runtime.register(Agent(name="sleeper", model=sleepy_model(), description="Sleeps N seconds."))

    template = AgentTemplate(model=finding_model())
    spawn = make_spawn_agents_tool(runtime=runtime, template=template, output_type=Finding)
    runtime.tools.register("spawn_agents", spawn)

    def children(prompt: str) -> dict[str, Any]:
        return {
            "agents": [
                {"name": "scout-a", "instructions": "Look at A.", "input": f"A of {prompt}"},
                {"name": "scout-b", "instructions": "Look at B.", "input": f"B of {prompt}"},
            ]
        }

    runtime.register(
        Agent(
            name="orchestrator",
            model=tool_model("spawn_agents", children),
            tools=("spawn_agents",),
            description="Spawns two scouts.",
        )
    )
    runtime.register_group(
        AgentGroup(
            name="pipeline",
            agents={
                "draft": Agent(name="draft", model=echo_model()),
                "review": Agent(name="review", model=finding_model(), output_type=Finding),
            },
            edges=[Edge("draft", "review")],
            description="Draft, then review.",
        )
    )
    return runtime

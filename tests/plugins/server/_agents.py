"""Agents, groups and a runtime for the server and client tests (FunctionModel: no LLM)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur import Agent, AgentGroup, AgentRuntime, Edge, RuntimeOptions, TokenBudget
from murmur.events import NullEventEmitter

TOKEN = "test-token-7f3a"


class Question(BaseModel):
    """A typed input."""

    text: str


class Finding(BaseModel):
    """A typed output."""

    answer: str
    confidence: float


def _prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        for part in getattr(message, "parts", []):
            if getattr(part, "part_kind", None) == "user-prompt":
                return str(part.content)
    return ""


def echo_model() -> FunctionModel:
    """Answers `echo:<prompt>`."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("echo:" + _prompt(messages))])

    return FunctionModel(respond)


def finding_model() -> FunctionModel:
    """Answers a `Finding` about the prompt."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        data = {"answer": "about " + _prompt(messages), "confidence": 0.9}
        if info.output_tools:
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, data)])
        return ModelResponse(parts=[TextPart(json.dumps(data))])

    return FunctionModel(respond)


def gated_model(gate: asyncio.Event) -> FunctionModel:
    """Waits for `gate` before answering (runs stay in flight until the test opens it)."""

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        await gate.wait()
        return ModelResponse(parts=[TextPart("released:" + _prompt(messages))])

    return FunctionModel(respond)


def tool_model(tool: str) -> FunctionModel:
    """Calls `tool(query=<prompt>)` once, then answers with what it returned."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = [
            p
            for m in messages
            for p in getattr(m, "parts", [])
            if getattr(p, "part_kind", None) == "tool-return"
        ]
        if not returns:
            return ModelResponse(parts=[ToolCallPart(tool, {"query": _prompt(messages)})])
        return ModelResponse(parts=[TextPart(f"found:{returns[-1].content}")])

    return FunctionModel(respond)


def broken_model() -> FunctionModel:
    """Fails every call."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("the model is down")

    return FunctionModel(respond)


def picky_model() -> FunctionModel:
    """Fails on prompts that contain "bad", echoes the rest."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = _prompt(messages)
        if "bad" in prompt:
            raise RuntimeError(f"cannot handle {prompt!r}")
        return ModelResponse(parts=[TextPart("ok:" + prompt)])

    return FunctionModel(respond)


def build_runtime(gate: asyncio.Event | None = None, **options: Any) -> AgentRuntime:
    """A runtime with every test agent registered (and a runtime-wide budget)."""
    runtime = AgentRuntime(
        RuntimeOptions(token_budget=TokenBudget(1_000_000, name="server-tests"), **options),
        event_emitter=NullEventEmitter(),
    )
    runtime.register(Agent(name="echo", model=echo_model(), description="Echoes its input."))
    runtime.register(Agent(name="finder", model=finding_model(), output_type=Finding))
    runtime.register(
        Agent(name="strict", model=finding_model(), input_type=Question, output_type=Finding)
    )
    runtime.register(Agent(name="broken", model=broken_model()))
    runtime.register(Agent(name="picky", model=picky_model()))
    runtime.register(Agent(name="slow", model=gated_model(gate or asyncio.Event())))

    def lookup(query: str) -> str:
        return query.upper()

    runtime.tools.register("lookup", lookup, read_only=True)
    runtime.register(Agent(name="researcher", model=tool_model("lookup"), tools=("lookup",)))

    async def delegate(query: str) -> str:
        child = await runtime.run("echo", query)  # nested: a child run of the manager
        return str(child.output)

    runtime.tools.register("delegate", delegate)
    runtime.register(Agent(name="manager", model=tool_model("delegate"), tools=("delegate",)))
    return runtime


def pipeline_group() -> AgentGroup:
    """echo -> finder."""
    first = Agent(name="first", model=echo_model())
    second = Agent(name="second", model=finding_model(), output_type=Finding)
    return AgentGroup(
        name="pipeline",
        agents={"first": first, "second": second},
        edges=[Edge("first", "second")],
        description="Echo, then find.",
    )

"""Agents the murmur-otel tests run: FunctionModel scripts, no provider."""

from __future__ import annotations

from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


def tool_returns(messages: list[ModelMessage]) -> list[Any]:
    """Contents of every tool return seen so far."""
    return [
        p.content
        for m in messages
        for p in getattr(m, "parts", ())
        if getattr(p, "part_kind", "") == "tool-return"
    ]


def calls_then_answers(tool: str, args: dict[str, Any]) -> FunctionModel:
    """Calls `tool(args)` once, then answers with the tool's return."""

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = tool_returns(messages)
        if not returns:
            return ModelResponse(parts=[ToolCallPart(tool, args)])
        return ModelResponse(parts=[TextPart(f"done: {returns[0]}")])

    return FunctionModel(call, model_name="scripted")


def answers(text: str = "ok") -> FunctionModel:
    """Answers at once."""

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart(text)])

    return FunctionModel(call, model_name="scripted")


def fails() -> FunctionModel:
    """Raises inside the model."""

    async def call(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise RuntimeError("the model fell over")

    return FunctionModel(call, model_name="scripted")

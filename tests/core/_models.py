"""FunctionModel builders used across the kernel tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


def json_output(payload: dict[str, Any] | Callable[[str], dict[str, Any]]) -> FunctionModel:
    """A model that answers with `payload` (or `payload(prompt)`) as the structured output."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = last_prompt(messages)
        data = payload if isinstance(payload, dict) else payload(prompt)
        if info.output_tools:
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, data)])
        return ModelResponse(parts=[TextPart(json.dumps(data))])

    return FunctionModel(respond)


def echo_model() -> FunctionModel:
    """A text model that answers `echo:<prompt>`."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("echo:" + last_prompt(messages))])

    return FunctionModel(respond)


def last_prompt(messages: list[ModelMessage]) -> str:
    """The text of the last user prompt in `messages`."""
    for message in reversed(messages):
        for part in getattr(message, "parts", []):
            if getattr(part, "part_kind", None) == "user-prompt":
                content = part.content
                return content if isinstance(content, str) else str(content)
    return ""


class Gauge:
    """Tracks how many model calls are in flight at once."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self.calls = 0

    def model(self, delay: float = 0.01) -> FunctionModel:
        """A text model that sleeps `delay` seconds while counted as in flight."""

        async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            self.calls += 1
            self.current += 1
            self.peak = max(self.peak, self.current)
            try:
                await asyncio.sleep(delay)
            finally:
                self.current -= 1
            return ModelResponse(parts=[TextPart("done:" + last_prompt(messages))])

        return FunctionModel(respond)


def tool_calling_model(tool: str, args: dict[str, Any], final: str = "ok") -> FunctionModel:
    """Calls `tool(**args)` once, then answers `final` plus the tool's return value."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        returns = [
            p
            for m in messages
            for p in getattr(m, "parts", [])
            if getattr(p, "part_kind", None) == "tool-return"
        ]
        if not returns:
            return ModelResponse(parts=[ToolCallPart(tool, args)])
        return ModelResponse(parts=[TextPart(f"{final}:{returns[-1].content}")])

    return FunctionModel(respond)

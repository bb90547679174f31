from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

Choice = tuple[str, dict[str, Any]] | None


@pytest.fixture(autouse=True)
def murmur_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every process test keeps its sockets and logs in its own MURMUR_HOME.

    A short path under /tmp: a Unix socket path holds at most 107 bytes.
    """
    home = Path(tempfile.mkdtemp(prefix="mh-", dir="/tmp"))
    monkeypatch.setenv("MURMUR_HOME", str(home))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def prompt_of(messages: list[ModelMessage]) -> str:
    return "".join(
        p.content
        for m in messages
        for p in getattr(m, "parts", [])
        if isinstance(p, UserPromptPart) and isinstance(p.content, str)
    )


def calling(choose: Callable[[str, AgentInfo], Choice], reply: str = "ok") -> FunctionModel:
    """A model that answers a prompt with the tool call `choose(prompt)` picks, then `reply`.

    After a tool result (or a retry prompt) it ends the turn with `reply`.
    """

    async def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        if any(isinstance(p, ToolReturnPart) or p.part_kind == "retry-prompt" for p in last.parts):
            return ModelResponse(parts=[TextPart(reply)])
        latest = [p for p in last.parts if isinstance(p, UserPromptPart)]
        choice = choose(str(latest[-1].content) if latest else "", info)
        if choice is None:
            return ModelResponse(parts=[TextPart(reply)])
        name, args = choice
        return ModelResponse(parts=[ToolCallPart(name, args)])

    return FunctionModel(respond)


async def ready(handle: Any) -> None:
    """Wait for the process behind `handle` to emit `ready` (its endpoints are exposed)."""
    async for event in handle.events:
        if event.type == "ready":
            return
    raise AssertionError(f"{handle!r} ended without emitting ready")

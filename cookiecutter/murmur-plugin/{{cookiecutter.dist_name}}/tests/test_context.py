"""The recent-messages passer passes murmur's context passer contract."""

from __future__ import annotations

from typing import Any

import pytest
from murmur import TaskSpec
from murmur.context import ParentContext
from murmur.testing.context import ContextPasserContract

from {{ cookiecutter.module_name }} import RecentContextPasser


class TestContextPasserContract(ContextPasserContract):
    """Every behaviour a context passer must have (murmur.testing.context)."""

    @pytest.fixture
    def passer(self) -> Any:
        return RecentContextPasser()


async def test_only_the_last_messages_are_passed() -> None:
    """With keep=2, the child starts with the parent's last request and response."""
    from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

    messages = []
    for i in range(3):
        messages.append(ModelRequest(parts=[UserPromptPart(content=f"question {i}")]))
        messages.append(ModelResponse(parts=[TextPart(content=f"answer {i}")]))
    parent = ParentContext(agent_name="p", trace_id="1" * 32, task_id="t", messages=messages)

    got = await RecentContextPasser(keep=2).prepare(parent, TaskSpec(input="child"))

    assert got == messages[-2:]


def test_the_passer_is_selected_by_name() -> None:
    """`Agent(context_passer="{{ cookiecutter.entry_name }}")` resolves to this passer through murmur's plugin host."""
    from murmur.plugins import PluginHost

    assert PluginHost().resolve_context_passer("{{ cookiecutter.entry_name }}") == RecentContextPasser()

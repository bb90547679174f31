"""Contract suite for context passers."""

from __future__ import annotations

from typing import Any

import pytest

from murmur.context_passer import ParentContext
from murmur.types import TaskSpec

__all__ = ["ContextPasserContract"]


class ContextPasserContract:
    """Subclass and provide a `passer` fixture returning your context passer."""

    @pytest.fixture
    def passer(self) -> Any:
        """The passer under test."""
        raise NotImplementedError("provide a `passer` fixture")

    @pytest.fixture
    def parent(self) -> ParentContext:
        """A parent run with a short conversation."""
        from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, UserPromptPart

        return ParentContext(
            agent_name="parent",
            trace_id="1" * 32,
            task_id="t",
            messages=(
                ModelRequest(parts=[UserPromptPart(content="Research NATS")]),
                ModelResponse(parts=[TextPart(content="NATS is a messaging system.")]),
            ),
        )

    def test_has_a_name(self, passer: Any) -> None:
        """A passer has a non-empty string name (its plugin key)."""
        assert isinstance(passer.name, str)
        assert passer.name

    async def test_top_level_runs_get_a_list(self, passer: Any) -> None:
        """With no parent, prepare returns a list (usually empty)."""
        assert isinstance(await passer.prepare(None, TaskSpec(input="x")), list)

    async def test_returns_model_messages(self, passer: Any, parent: ParentContext) -> None:
        """With a parent, prepare returns PydanticAI messages."""
        from pydantic_ai.messages import ModelRequest, ModelResponse

        messages = await passer.prepare(parent, TaskSpec(input="child task"))
        assert isinstance(messages, list)
        assert all(isinstance(m, ModelRequest | ModelResponse) for m in messages)

    async def test_does_not_mutate_the_parent(self, passer: Any, parent: ParentContext) -> None:
        """The parent's messages are unchanged after prepare."""
        before = list(parent.messages)
        await passer.prepare(parent, TaskSpec(input="child"))
        assert list(parent.messages) == before

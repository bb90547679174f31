"""Contract suite for tool providers."""

from __future__ import annotations

from typing import Any

import pytest

from murmur.agent import Agent
from murmur.tools import ToolRegistry

__all__ = ["ToolProviderContract"]


class ToolProviderContract:
    """Subclass and provide `provider` and `agent` fixtures (and optionally `registry`).

    `agent` must be an Agent that, with `registry`, gets at least one tool from `provider`.
    """

    @pytest.fixture
    def provider(self) -> Any:
        """The tool provider under test."""
        raise NotImplementedError("provide a `provider` fixture")

    @pytest.fixture
    def agent(self) -> Agent[Any]:
        """An agent that uses the provider's tools."""
        raise NotImplementedError("provide an `agent` fixture")

    @pytest.fixture
    def registry(self) -> ToolRegistry:
        """The runtime tool registry passed to the provider."""
        return ToolRegistry()

    def test_has_a_name(self, provider: Any) -> None:
        """A provider has a non-empty string name (its plugin key)."""
        assert isinstance(provider.name, str)
        assert provider.name

    async def test_supplies_pydantic_ai_toolsets(
        self, provider: Any, agent: Agent[Any], registry: ToolRegistry
    ) -> None:
        """toolsets() returns PydanticAI toolsets offering at least one tool."""
        from pydantic_ai import RunContext
        from pydantic_ai.models.test import TestModel
        from pydantic_ai.toolsets import AbstractToolset
        from pydantic_ai.usage import RunUsage

        toolsets = provider.toolsets(agent, registry)
        assert toolsets
        assert all(isinstance(t, AbstractToolset) for t in toolsets)
        ctx = RunContext(deps=None, model=TestModel(), usage=RunUsage())
        names: list[str] = []
        for toolset in toolsets:
            async with toolset:
                names.extend((await toolset.get_tools(ctx)).keys())
        assert names

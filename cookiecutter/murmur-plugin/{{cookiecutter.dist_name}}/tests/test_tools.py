"""The text tools pass murmur's tool provider contract, and an agent calls them."""

from __future__ import annotations

from typing import Any

import pytest
from murmur import Agent, AgentRuntime, EventType, TaskSpec
from murmur.events import CollectingEventEmitter
from murmur.testing.tools import ToolProviderContract

from {{ cookiecutter.module_name }} import {{ cookiecutter.__class_prefix }}ToolProvider, tool_provider_factory


class TestToolProviderContract(ToolProviderContract):
    """Every behaviour a tool provider must have (murmur.testing.tools)."""

    @pytest.fixture
    def provider(self) -> Any:
        return {{ cookiecutter.__class_prefix }}ToolProvider()

    @pytest.fixture
    def agent(self, provider: Any) -> Agent[Any]:
        return Agent(name="writer", mcp_servers=(provider,), tools=(f"{provider.name}.word_count",))


async def test_an_agent_calls_the_tools_through_murmurs_gate() -> None:
    """A run with the provider calls `word_count`, and murmur emits the tool events."""
    provider = tool_provider_factory("{{ cookiecutter.entry_name }}")
    agent = Agent(
        name="writer",
        model="test",
        mcp_servers=(provider,),
        tools=(f"{provider.name}.word_count", f"{provider.name}.reverse"),
    )
    events = CollectingEventEmitter()
    async with AgentRuntime(event_emitter=events) as runtime:
        result = await runtime.run(agent, TaskSpec(input="count these words"))

    assert result.is_ok(), result.error
    completed = {
        e.payload.get("tool")
        for e in events.events
        if e.event_type == EventType.TOOL_CALL_COMPLETED
    }
    assert completed == {f"{provider.name}.word_count", f"{provider.name}.reverse"}


def test_the_provider_is_selected_by_its_kind() -> None:
    """A YAML `mcp_servers: [{kind: {{ cookiecutter.entry_name }}}]` entry resolves to this provider."""
    from murmur.plugins import PluginHost

    provider = PluginHost().resolve_tool_provider({"kind": "{{ cookiecutter.entry_name }}", "name": "text"})

    assert provider == {{ cookiecutter.__class_prefix }}ToolProvider(name="text")

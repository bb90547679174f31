"""Agent and AgentTemplate: the frozen spec users write."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from pydantic_ai.models.test import TestModel

from murmur import Agent, AgentTemplate, SpecValidationError, TrustLevel
from murmur.context import FullContextPasser, NullContextPasser
from murmur.models import ConcurrencyLimiter


class Finding(BaseModel):
    answer: str


def test_agent_has_every_documented_field() -> None:
    """Every field of the Agents page exists on Agent."""
    documented = {
        "name", "model", "instructions", "output_type", "input_type", "tools", "mcp_servers",
        "builtin_tools", "fallback_models", "max_concurrent_requests",
        "model_concurrency_limiter", "model_settings", "trust_level", "context_passer",
        "pre_process", "post_process",
    }  # fmt: skip
    assert documented <= set(Agent.model_fields)


def test_agent_is_frozen_and_model_copy_updates() -> None:
    """Assignment raises; model_copy(update=...) gives a changed copy."""
    agent = Agent(name="minion", model="test", output_type=Finding, tools=("web_search",))
    with pytest.raises(Exception, match="frozen"):
        agent.name = "other"  # ty: ignore[invalid-assignment]
    hardened = agent.model_copy(update={"trust_level": TrustLevel.LOW})
    assert hardened.trust_level is TrustLevel.LOW
    assert agent.trust_level is TrustLevel.MEDIUM


def test_agent_accepts_a_model_instance() -> None:
    """A PydanticAI Model instance is accepted as the model."""
    model = TestModel()
    agent = Agent(name="a", model=model)
    assert agent.model is model


def test_agent_rejects_bad_input_with_typed_errors() -> None:
    """Bad fields raise SpecValidationError naming the agent and the field."""
    with pytest.raises(SpecValidationError, match="trust_level"):
        Agent(name="a", trust_level="supreme")  # type: ignore[arg-type]
    with pytest.raises(SpecValidationError, match="output_type"):
        Agent(name="a", output_type=object)
    with pytest.raises(SpecValidationError, match="model"):
        Agent(name="a", model=42)


def test_concurrency_caps_are_mutually_exclusive() -> None:
    """max_concurrent_requests and model_concurrency_limiter together are rejected."""
    pool = ConcurrencyLimiter(max_running=2, name="pool")
    with pytest.raises(SpecValidationError, match="mutually exclusive"):
        Agent(name="a", max_concurrent_requests=2, model_concurrency_limiter=pool)
    assert Agent(name="a", model_concurrency_limiter=pool).model_concurrency_limiter is pool


def test_collections_are_tuples_and_settings_copied() -> None:
    """tools/fallbacks become tuples; model_settings is copied to a dict at the boundary."""
    settings = {"temperature": 0.1}
    agent = Agent(name="a", tools=frozenset({"b", "a"}), model_settings=settings)
    assert agent.tools == ("a", "b")
    settings["temperature"] = 0.9
    assert agent.model_settings == {"temperature": 0.1}


def test_template_materialises_agents() -> None:
    """pre_instruction + blank line + instructions; per-call values override; None inherits."""
    swarm = AgentTemplate(
        pre_instruction="You are part of a pipeline.",
        model="test",
        trust_level=TrustLevel.MEDIUM,
        tools=frozenset({"web_search"}),
    )
    researcher = swarm.agent(name="researcher", instructions="Find facts.", output_type=Finding)
    assert researcher.instructions == "You are part of a pipeline.\n\nFind facts."
    assert researcher.tools == ("web_search",)
    assert researcher.output_type is Finding
    low = swarm.agent(name="low", instructions="x", trust_level=TrustLevel.LOW, model=None)
    assert low.trust_level is TrustLevel.LOW
    assert low.model == "test"


def test_template_collections_replace_rather_than_extend() -> None:
    """A per-call tools set replaces the template's; unions are explicit."""
    swarm = AgentTemplate(tools=frozenset({"web_search"}))
    only_calc = swarm.agent(name="a", instructions="", tools=frozenset({"calculator"}))
    both = swarm.agent(name="b", instructions="", tools=swarm.tools | frozenset({"calculator"}))
    assert only_calc.tools == ("calculator",)
    assert both.tools == ("calculator", "web_search")


def test_template_rejects_unknown_fields() -> None:
    """A typo in a template override is a SpecValidationError, not silently ignored."""
    with pytest.raises(SpecValidationError, match="unknown field"):
        AgentTemplate().agent(name="a", instructions="", tool=("x",))


def test_context_passer_accepts_objects_and_names() -> None:
    """context_passer takes a ContextPasser object or a registered name."""
    assert isinstance(Agent(name="a").context_passer, NullContextPasser)
    assert Agent(name="a", context_passer=FullContextPasser()).context_passer == FullContextPasser()
    assert Agent(name="a", context_passer="full").context_passer == "full"
    with pytest.raises(SpecValidationError, match="context_passer"):
        Agent(name="a", context_passer=object())

"""Model strings are checked early: an unknown provider when the Agent is built, a missing SDK
named with the extra that installs it, and a provider table that cannot drift from pydantic-ai."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic_ai.models import known_model_names
from pydantic_ai.providers import infer_provider_class

from murmur import Agent, AgentRuntime, SpecValidationError
from murmur.cli import cli
from murmur.core.providers import PROVIDERS, check_model_string, missing_sdk
from murmur.events import NullEventEmitter

from ._models import echo_model


def test_an_unknown_provider_prefix_fails_when_the_agent_is_built() -> None:
    """A typo in the provider is a typed error at construction, suggesting the fix."""
    with pytest.raises(SpecValidationError) as caught:
        Agent(name="researcher", model="opnai:gpt-5.2")

    assert caught.value.code == "unknown_model"
    assert "Unknown model: opnai:gpt-5.2. Did you mean 'openai:gpt-5.2'?" in caught.value.message
    assert "'test'" in caught.value.message  # what to write instead


def test_a_model_name_without_a_provider_fails_with_pydantic_ais_suggestion() -> None:
    """No prefix at all: PydanticAI's own "did you mean", as the run gave it."""
    with pytest.raises(SpecValidationError, match="Did you mean 'anthropic:claude-sonnet-4-6'"):
        Agent(name="researcher", model="claude-sonnet-4-6")


def test_fallback_models_are_checked_too() -> None:
    """Every model string of the agent is checked, not only the primary."""
    with pytest.raises(SpecValidationError, match="fallback_models"):
        Agent(name="researcher", model="test", fallback_models=("antropic:claude-haiku-4-5",))


@pytest.mark.parametrize(
    "model",
    ["test", "openai:gpt-5.2", "anthropic:claude-sonnet-4-6", "gateway/chat:gpt-5.2"],
)
def test_known_model_strings_and_test_are_accepted(model: str) -> None:
    """Known providers build whether or not their SDK is installed (a worker may run them)."""
    assert Agent(name="researcher", model=model).model == model


def test_model_objects_are_accepted() -> None:
    """A FunctionModel (or any PydanticAI Model) is never string-checked."""
    model = echo_model()

    assert Agent(name="echo", model=model).model is model


def test_checking_a_known_model_string_does_not_import_pydantic_ai() -> None:
    """Building an agent with a provider string stays light: PydanticAI is not imported."""
    code = (
        "import sys\nfrom murmur import Agent\n"
        "Agent(name='a', model='anthropic:claude-sonnet-4-6')\n"
        "print('pydantic_ai' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert out.stdout.strip() == "False", out.stderr


async def test_the_run_gives_the_same_message_as_construction() -> None:
    """An agent that skipped validation fails its run with the construction's message."""
    message = check_model_string("opnai:gpt-5.2")
    agent = Agent.model_construct(name="researcher", model="opnai:gpt-5.2")
    async with AgentRuntime(event_emitter=NullEventEmitter()) as runtime:
        result = await runtime.run(agent, "hi")

    assert result.error is not None
    assert result.error.code == "unknown_model"
    assert message is not None
    assert message.removeprefix("Unknown model: opnai:gpt-5.2. ") in result.error.message


@pytest.fixture
def no_anthropic(monkeypatch: pytest.MonkeyPatch) -> None:
    """The anthropic SDK looks uninstalled, whatever this environment holds."""
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "anthropic" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.usefixtures("no_anthropic")
async def test_a_missing_sdk_fails_the_run_naming_the_murmur_extra() -> None:
    """A known provider without its SDK: a typed result saying what to pip install."""
    agent = Agent(name="writer", model="anthropic:claude-sonnet-4-6")
    async with AgentRuntime(event_emitter=NullEventEmitter()) as runtime:
        result = await runtime.run(agent, "hi")

    assert result.error is not None
    assert result.error.code == "provider_missing"
    assert 'pip install "murmur-core[anthropic]"' in result.error.message
    assert result.error.details["package"] == "anthropic"


def test_a_provider_without_a_murmur_extra_points_at_pydantic_ai_slim() -> None:
    """Providers murmur-core has no extra for name pydantic-ai-slim's."""
    missing = missing_sdk("cohere:command-r")

    if importlib.util.find_spec("cohere") is None:
        assert missing is not None
        assert missing.install == 'pip install "pydantic-ai-slim[cohere]"'
    else:
        assert missing is None


@pytest.mark.usefixtures("no_anthropic")
def test_validate_reports_bad_models_with_the_file_name(tmp_path: Path) -> None:
    """`murmur validate`: an unknown provider fails its file; a missing SDK is a warning."""
    spec = "version: 1\nname: {name}\nmodel: {model}\ninstructions: Write.\n"
    (tmp_path / "typo.yaml").write_text(spec.format(name="typo", model="opnai:gpt-5.2"))
    (tmp_path / "claude.yaml").write_text(
        spec.format(name="claude", model="anthropic:claude-sonnet-4-6")
    )

    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])

    assert result.exit_code == 1
    assert f"{tmp_path / 'typo.yaml'}: invalid agent 'typo': model: Unknown model" in result.output
    assert (
        f"{tmp_path / 'claude.yaml'}: warning: agent 'claude': model "
        "'anthropic:claude-sonnet-4-6' needs the anthropic package"
    ) in result.output
    assert "1 of 2 spec files invalid" in result.output


# -- the table cannot drift from the installed pydantic-ai ------------------------------


def pydantic_ai_provider_names() -> set[str]:
    """Every provider name `infer_provider_class` matches, read from its source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(infer_provider_class)))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.MatchValue) and isinstance(node.value, ast.Constant):
            names.add(str(node.value.value))
    return names


def test_the_provider_table_is_pydantic_ais() -> None:
    """PROVIDERS names exactly the providers the installed pydantic-ai knows."""
    assert pydantic_ai_provider_names() == set(PROVIDERS)


def test_every_known_model_name_passes_the_check() -> None:
    """Every model in pydantic-ai's KnownModelName is accepted."""
    rejected = [name for name in known_model_names() if check_model_string(name) is not None]

    assert rejected == []


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_the_sdk_each_provider_needs_is_the_one_pydantic_ai_imports(provider: str) -> None:
    """A provider's class fails to import exactly when the table's SDK is missing."""
    needs = PROVIDERS[provider]
    expected_missing = needs is not None and missing_sdk(f"{provider}:m") is not None
    try:
        infer_provider_class(provider)
        imports = True
    except ImportError:
        imports = False

    assert imports != expected_missing

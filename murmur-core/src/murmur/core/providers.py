"""PydanticAI model strings, checked without importing PydanticAI: provider prefixes and SDKs.

`check_model_string` is what `Agent(model=...)` and `murmur validate` use to catch an unknown
provider prefix (`"opnai:gpt-5.2"`, `"gpt-5.2"` with no prefix) before any run; only a string
that is about to be rejected imports PydanticAI, to word the rejection exactly as a run
would (with its "did you mean" suggestion). `missing_sdk` says, without importing it, whether
the SDK a provider needs is installed, and what to install when it is not.

`PROVIDERS` mirrors the providers of the installed pydantic-ai-slim (its
`infer_provider_class`); `tests/core/test_model_strings.py` fails when the two drift apart.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from difflib import get_close_matches

__all__ = [
    "PROVIDERS",
    "MissingSDK",
    "check_model_string",
    "missing_sdk",
    "provider_name",
    "unknown_model_message",
]

_CORE_EXTRAS = frozenset({"openai", "anthropic", "google", "groq", "mistral", "bedrock"})
"""murmur-core's own extras (`pip install "murmur-core[openai]"`); see its pyproject.toml."""

_OPENAI = ("openai", "openai")
PROVIDERS: dict[str, tuple[str, str] | None] = {
    # provider prefix: (the SDK module it imports, the extra that installs it), or None
    # when pydantic-ai-slim alone is enough.
    **dict.fromkeys(
        (
            "openai",
            "openai-chat",
            "openai-responses",
            "openai-decisions",
            "openai-codex",
            "openai-chatgpt",
            "azure",
            "azure-responses",
            "deepseek",
            "openrouter",
            "vercel",
            "alibaba",
            "crusoe",
            "fireworks",
            "github",
            "github-copilot",
            "heroku",
            "litellm",
            "meta",
            "moonshotai",
            "nebius",
            "ollama",
            "ovhcloud",
            "sambanova",
            "together",
            "vllm",
        ),
        _OPENAI,
    ),
    "cerebras": ("openai", "cerebras"),
    "snowflake": ("openai", "snowflake"),
    "zai": ("openai", "zai"),
    "bedrock-mantle": ("openai", "bedrock-mantle"),
    "anthropic": ("anthropic", "anthropic"),
    "google": ("google.genai", "google"),
    "google-decisions": ("google.genai", "google"),
    "google-cloud": ("google.genai", "google"),
    "bedrock": ("boto3", "bedrock"),
    "groq": ("groq", "groq"),
    "mistral": ("mistralai", "mistral"),
    "cohere": ("cohere", "cohere"),
    "huggingface": ("huggingface_hub", "huggingface"),
    "xai": ("xai_sdk", "xai"),
    "typesafe": ("typesafe_sdk", "typesafe"),
    "voyageai": ("voyageai", "voyageai"),
    "sentence-transformers": None,
    "elevenlabs": None,
    "system-one": None,
}

_GATEWAY_ALIASES = {
    "chat": "openai-chat",
    "responses": "openai-responses",
    "converse": "bedrock",
    "google": "google-cloud",
}
"""`gateway/<alias>` prefixes of the Pydantic AI Gateway, and the provider each stands for."""

_EXAMPLES = "'openai:gpt-5.2', 'anthropic:claude-sonnet-4-6' or 'test'"


def provider_name(model: str) -> str | None:
    """The provider a model string names (`"gateway/chat:x"` -> `"openai-chat"`), or None."""
    prefix, colon, _ = model.partition(":")
    if not colon:
        return None
    if prefix.startswith("gateway/"):
        upstream = prefix.removeprefix("gateway/")
        return _GATEWAY_ALIASES.get(upstream, upstream)
    return prefix


def check_model_string(model: str) -> str | None:
    """None when `model` names a provider PydanticAI knows (or is `"test"`), else why not.

    The reason is worded as a run would word it: PydanticAI's own message (with its "did
    you mean" suggestion), then what to write instead.
    """
    if model == "test" or provider_name(model) in PROVIDERS:
        return None
    # Rejected: only now pay for importing PydanticAI, to word it exactly as the run does.
    from pydantic_ai.exceptions import UserError
    from pydantic_ai.models import infer_model
    from pydantic_ai.providers import infer_provider_class

    provider = provider_name(model)
    close = get_close_matches(provider, PROVIDERS, n=1, cutoff=0.75) if provider else []
    if close:  # a typo in the prefix: PydanticAI would suggest some other model entirely
        suggestion = f"{close[0]}:{model.partition(':')[2]}"
        return unknown_model_message(f"Unknown model: {model}. Did you mean {suggestion!r}?")
    if provider is not None:
        try:
            infer_provider_class(model.partition(":")[0])
        except ValueError:
            pass  # unknown to PydanticAI too: infer_model raises before building anything
        except ImportError:
            return None  # a provider newer than PROVIDERS, whose SDK is missing
        else:
            return None  # a provider newer than PROVIDERS
    try:
        infer_model(model)
    except UserError as exc:
        return unknown_model_message(str(exc))
    return None  # pragma: no cover - PydanticAI accepted it after all


def unknown_model_message(reason: str) -> str:
    """PydanticAI's rejection of a model string (`reason`), then what to write instead."""
    reason = reason.rstrip()
    separator = " " if reason.endswith(("?", ".")) else ". "
    return f"{reason}{separator}Use a PydanticAI model string such as {_EXAMPLES}"


@dataclass(frozen=True, slots=True)
class MissingSDK:
    """A provider whose SDK is not installed, and the command that installs it.

    Args:
        provider: the provider prefix (`"google"`).
        module: the SDK's import name (`"google.genai"`).
        install: the command to run (`pip install "murmur-core[google]"`).
    """

    provider: str
    module: str
    install: str

    @property
    def package(self) -> str:
        """The SDK's distribution name (`"google-genai"`)."""
        return self.module.replace(".", "-").replace("_", "-")

    def message(self, model: str) -> str:
        """What a user reads: the model, the missing package, the command."""
        return (
            f"model {model!r} needs the {self.package} package, which is not installed: "
            f"{self.install}"
        )


def missing_sdk(model: str) -> MissingSDK | None:
    """The SDK `model`'s provider needs when it is not installed, else None.

    Looks the SDK up on `sys.path` without importing it (`importlib.util.find_spec`).
    """
    provider = provider_name(model)
    needs = PROVIDERS.get(provider) if provider is not None else None
    if provider is None or needs is None:
        return None
    module, extra = needs
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package of a dotted name is missing
        found = False
    if found:
        return None
    distribution = "murmur-core" if extra in _CORE_EXTRAS else "pydantic-ai-slim"
    return MissingSDK(provider, module, f'pip install "{distribution}[{extra}]"')

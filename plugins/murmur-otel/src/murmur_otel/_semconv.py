"""The OpenTelemetry GenAI semantic conventions murmur follows, pinned, and its own names.

The GenAI conventions live in `open-telemetry/semantic-conventions-genai` (status
Development). murmur follows that repository at `SEMCONV_GENAI_COMMIT`; names and bucket
boundaries below are copied from its `docs/gen-ai/gen-ai-metrics.md` and
`docs/gen-ai/gen-ai-agent-spans.md` at that commit.
"""

from __future__ import annotations

__all__ = [
    "AGENT_DURATION_BUCKETS",
    "DURATION_BUCKETS",
    "PROVIDERS",
    "SCOPE_NAME",
    "SEMCONV_GENAI_COMMIT",
    "SEMCONV_GENAI_REPOSITORY",
    "TOKEN_BUCKETS",
    "WORKFLOW_DURATION_BUCKETS",
    "provider_name",
    "request_model",
    "scope_version",
]

SEMCONV_GENAI_REPOSITORY = "https://github.com/open-telemetry/semantic-conventions-genai"
SEMCONV_GENAI_COMMIT = "004902b8cb70aa5ae6ca4ae07132b7daabcd3e10"
"""The commit of the GenAI semantic conventions murmur-otel follows."""

TOKEN_BUCKETS = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
"""`gen_ai.client.token.usage` bucket boundaries ({token})."""

DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
"""`gen_ai.client.operation.duration` and `gen_ai.execute_tool.duration` boundaries (s)."""

AGENT_DURATION_BUCKETS = (
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6,
)  # fmt: skip
"""`gen_ai.invoke_agent.duration` bucket boundaries (s)."""

WORKFLOW_DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
"""`gen_ai.workflow.duration` bucket boundaries (s)."""

# Metric names.
TOKEN_USAGE = "gen_ai.client.token.usage"
OPERATION_DURATION = "gen_ai.client.operation.duration"
AGENT_DURATION = "gen_ai.invoke_agent.duration"
TOOL_DURATION = "gen_ai.execute_tool.duration"
WORKFLOW_DURATION = "gen_ai.workflow.duration"

# Attribute keys.
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
TOKEN_TYPE = "gen_ai.token.type"
AGENT_NAME = "gen_ai.agent.name"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ID = "gen_ai.tool.call.id"
WORKFLOW_NAME = "gen_ai.workflow.name"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
ERROR_TYPE = "error.type"

PROVIDERS = {
    "openai": "openai",
    "openai-chat": "openai",
    "openai-responses": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "google-gla": "gcp.gemini",
    "google-vertex": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "groq": "groq",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "deepseek": "deepseek",
    "grok": "x_ai",
    "xai": "x_ai",
    "moonshotai": "moonshot_ai",
    "perplexity": "perplexity",
}
"""PydanticAI model-string prefixes and the `gen_ai.provider.name` well-known value."""


def provider_name(model: object) -> str:
    """`gen_ai.provider.name` for a PydanticAI model string (`"openai:gpt-5.2"`) or model.

    A known provider maps to the convention's well-known value, any other is used as is
    (a model object's `system`: `"function"` for a `FunctionModel`); a model string with no
    provider prefix (`"test"`) is `"pydantic_ai"`.
    """
    if isinstance(model, str) or model is None:
        prefix, sep, _ = (model or "").partition(":")
        if not sep:
            return "pydantic_ai"
    else:
        prefix = str(getattr(model, "system", None) or "pydantic_ai")
    return PROVIDERS.get(prefix, prefix)


def request_model(model: str | None) -> str | None:
    """The model name without its provider prefix (`"openai:gpt-5.2"` -> `"gpt-5.2"`)."""
    if not model:
        return None
    _, sep, name = model.partition(":")
    return name if sep else model


SCOPE_NAME = "murmur"
"""The instrumentation scope of every span and instrument murmur-otel creates."""


def scope_version() -> str:
    """murmur-otel's version, the instrumentation scope version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("murmur-otel")
    except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "0"

"""`Agent`, the single frozen spec of an agent, and `AgentTemplate`, a builder of agents."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from murmur.context_passer import ContextPasser, NullContextPasser
from murmur.core.errors import SpecValidationError
from murmur.core.providers import check_model_string
from murmur.types import TrustLevel

__all__ = ["Agent", "AgentTemplate"]

OutputT = TypeVar("OutputT")

UNKNOWN_MODEL = "unknown_model"
"""The error code of a model string no PydanticAI provider answers to."""


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, frozenset | set):
        return tuple(sorted(value, key=str))
    return tuple(value)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "agent"
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


def _is_model_instance(value: object) -> bool:
    # A PydanticAI Model can only exist if pydantic_ai is already imported: checking
    # sys.modules keeps `import murmur` free of the pydantic_ai import.
    models = sys.modules.get("pydantic_ai.models")
    return models is not None and isinstance(value, models.Model)


def _check_model(value: Any, field_name: str) -> Any:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError(f"{field_name} must be a non-empty model string such as 'test'")
        reason = check_model_string(value)
        if reason is not None:
            # A typed pydantic error, so the SpecValidationError can carry code "unknown_model".
            raise PydanticCustomError(UNKNOWN_MODEL, "{reason}", {"reason": reason})
        return value
    if _is_model_instance(value):
        return value
    raise ValueError(
        f"{field_name} must be a PydanticAI model string (e.g. 'openai:gpt-5.2' or 'test') "
        f"or a pydantic_ai.models.Model instance, got {type(value).__name__}"
    )


class Agent(BaseModel, Generic[OutputT]):
    """One agent: LLM configuration plus orchestration policy, in one frozen value.

    ```python
    researcher = Agent(
        name="researcher",
        model="anthropic:claude-sonnet-4-6",
        instructions="Research the question. Cite sources.",
        output_type=ResearchFinding,
    )
    hardened = researcher.model_copy(update={"trust_level": TrustLevel.LOW})
    ```
    """

    model_config = ConfigDict(
        frozen=True, arbitrary_types_allowed=True, extra="forbid", defer_build=True
    )

    name: str = Field(min_length=1)
    model: Any = "test"
    instructions: str = ""
    output_type: type[OutputT] = str  # ty: ignore[invalid-assignment]
    input_type: Any = None
    tools: tuple[str, ...] = ()
    mcp_servers: tuple[Any, ...] = ()
    builtin_tools: tuple[Any, ...] = ()
    fallback_models: tuple[Any, ...] = ()
    max_concurrent_requests: int | None = Field(default=None, ge=1)
    model_concurrency_limiter: Any = None
    model_settings: Mapping[str, Any] | None = None
    trust_level: TrustLevel = TrustLevel.MEDIUM
    context_passer: Any = Field(default_factory=NullContextPasser)
    pre_process: tuple[Callable[..., Any], ...] = ()
    post_process: tuple[Callable[..., Any], ...] = ()
    description: str = ""

    @field_validator(
        "tools",
        "mcp_servers",
        "builtin_tools",
        "fallback_models",
        "pre_process",
        "post_process",
        mode="before",
    )
    @classmethod
    def _coerce_tuple(cls, value: Any) -> tuple[Any, ...]:
        return _as_tuple(value)

    @field_validator("model", mode="before")
    @classmethod
    def _validate_model(cls, value: Any) -> Any:
        return _check_model(value, "model")

    @field_validator("fallback_models")
    @classmethod
    def _validate_fallbacks(cls, value: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(_check_model(v, "fallback_models entry") for v in value)

    @field_validator("trust_level", mode="before")
    @classmethod
    def _validate_trust(cls, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, TrustLevel):
            try:
                return TrustLevel(value.lower())
            except ValueError:
                allowed = ", ".join(t.value for t in TrustLevel)
                raise ValueError(f"unknown trust level {value!r}; use one of: {allowed}") from None
        return value

    @field_validator("output_type")
    @classmethod
    def _validate_output_type(cls, value: Any) -> Any:
        if value in (str, int, float, bool, dict, list):
            return value
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value
        raise ValueError(
            f"output_type must be a pydantic BaseModel subclass (or str), got {value!r}"
        )

    @field_validator("input_type")
    @classmethod
    def _validate_input_type(cls, value: Any) -> Any:
        if value is None or (isinstance(value, type) and issubclass(value, BaseModel)):
            return value
        raise ValueError(f"input_type must be a pydantic BaseModel subclass, got {value!r}")

    @field_validator("model_settings")
    @classmethod
    def _copy_settings(cls, value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        return None if value is None else dict(value)

    @field_validator("context_passer")
    @classmethod
    def _validate_passer(cls, value: Any) -> Any:
        if isinstance(value, str | ContextPasser):
            return value
        raise ValueError(
            "context_passer must be a ContextPasser (an object with async prepare()) "
            "or a registered passer name such as 'null' or 'full'"
        )

    @model_validator(mode="after")
    def _exclusive_limits(self) -> Agent[OutputT]:
        if self.max_concurrent_requests is not None and self.model_concurrency_limiter is not None:
            raise ValueError(
                "max_concurrent_requests and model_concurrency_limiter are mutually exclusive: "
                "use max_concurrent_requests for a per-agent cap, or one shared "
                "model_concurrency_limiter across agents"
            )
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _typed_errors(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            name = data.get("name", "<unnamed>") if isinstance(data, dict) else "<unnamed>"
            unknown = any(e["type"] == UNKNOWN_MODEL for e in exc.errors())
            raise SpecValidationError(
                f"invalid agent {name!r}: {_describe(exc)}",
                code=UNKNOWN_MODEL if unknown else None,
                details={"errors": exc.errors(include_url=False, include_context=False)},
            ) from None

    def __hash__(self) -> int:
        # Equal agents have equal names, so hashing the name is consistent with equality and
        # works when fields hold unhashable values (a FunctionModel, a settings dict).
        return hash(("murmur.Agent", self.name))

    @property
    def model_name(self) -> str:
        """The model as a string, for events and rate cards."""
        if isinstance(self.model, str):
            return self.model
        return str(getattr(self.model, "model_name", type(self.model).__name__))

    def to_yaml(self) -> str:
        """This agent as a YAML spec (the form of the Agents page); round-trips via `from_yaml`.

        Raises:
            SpecValidationError: a field has no YAML form (a model object, a toolset object
                in mcp_servers, builtin tools, a lambda hook, an output class defined inside
                a function).
        """
        from murmur.registry._agent import agent_to_yaml

        return agent_to_yaml(self)

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> Agent[Any]:
        """An agent from YAML text or a spec file path.

        ```python
        researcher = Agent.from_yaml("specs/researcher.yaml")
        ```

        Raises:
            SpecValidationError: malformed YAML, an unknown field, a class path that does
                not import or is not a BaseModel, an unknown trust level; the message
                names the file.
        """
        from murmur.registry._agent import agent_from_yaml

        return agent_from_yaml(source)


_COLLECTION_FIELDS = ("tools", "mcp_servers", "builtin_tools", "fallback_models")


class AgentTemplate(BaseModel):
    """A frozen builder for agents that share a base prompt, model, trust level, or tools.

    `template.agent(...)` prepends `pre_instruction` to the agent's instructions (with a
    blank line between). Per-call values override the template; `None` inherits. Collection
    fields (tools, mcp_servers, builtin_tools, fallback_models) replace, not extend.
    """

    model_config = ConfigDict(
        frozen=True, arbitrary_types_allowed=True, extra="forbid", defer_build=True
    )

    pre_instruction: str = ""
    model: Any = "test"
    trust_level: TrustLevel = TrustLevel.MEDIUM
    tools: frozenset[str] = frozenset()
    mcp_servers: tuple[Any, ...] = ()
    builtin_tools: tuple[Any, ...] = ()
    fallback_models: tuple[Any, ...] = ()
    max_concurrent_requests: int | None = None
    model_concurrency_limiter: Any = None
    model_settings: Mapping[str, Any] | None = None
    context_passer: Any = Field(default_factory=NullContextPasser)
    output_type: Any = str
    pre_process: tuple[Callable[..., Any], ...] = ()
    post_process: tuple[Callable[..., Any], ...] = ()

    @field_validator("tools", mode="before")
    @classmethod
    def _coerce_tools(cls, value: Any) -> frozenset[str]:
        if isinstance(value, str):
            return frozenset({value})
        return frozenset(value or ())

    @field_validator(
        "mcp_servers",
        "builtin_tools",
        "fallback_models",
        "pre_process",
        "post_process",
        mode="before",
    )
    @classmethod
    def _coerce_tuple(cls, value: Any) -> tuple[Any, ...]:
        return _as_tuple(value)

    @model_validator(mode="wrap")
    @classmethod
    def _typed_errors(cls, data: Any, handler: Any) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            raise SpecValidationError(f"invalid agent template: {_describe(exc)}") from None

    def agent(self, *, name: str, instructions: str = "", **overrides: Any) -> Agent[Any]:
        """Materialise an `Agent` from this template.

        Args:
            name: the agent's name.
            instructions: appended to `pre_instruction` after a blank line.
            **overrides: any other `Agent` field; None means "inherit from the template".
        """
        unknown = set(overrides) - set(Agent.model_fields)
        if unknown:
            raise SpecValidationError(
                f"AgentTemplate.agent() got unknown field(s) {sorted(unknown)}; "
                f"valid fields: {sorted(Agent.model_fields)}"
            )
        values: dict[str, Any] = {
            "model": self.model,
            "trust_level": self.trust_level,
            "tools": self.tools,
            "mcp_servers": self.mcp_servers,
            "builtin_tools": self.builtin_tools,
            "fallback_models": self.fallback_models,
            "max_concurrent_requests": self.max_concurrent_requests,
            "model_concurrency_limiter": self.model_concurrency_limiter,
            "model_settings": self.model_settings,
            "context_passer": self.context_passer,
            "output_type": self.output_type,
            "pre_process": self.pre_process,
            "post_process": self.post_process,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("max_concurrent_requests"):
            values["model_concurrency_limiter"] = overrides.get("model_concurrency_limiter")
        parts = [p for p in (self.pre_instruction, instructions) if p]
        values["instructions"] = "\n\n".join(parts)
        return Agent(name=name, **values)

"""The typed error hierarchy: every failure in murmur is a `MurmurError` subclass.

```
MurmurError
├── SpawnError
├── SpawnCycleError
├── SpawnCapError
├── ToolExecutionError
├── ContextError
├── BudgetExceededError
├── DepthLimitError
├── RegistryError
├── TrustViolationError
├── AllAgentsFailedError
└── SpecValidationError
    └── TopologyError
```

Each error carries a short machine-readable `code` (for example `"timeout"` on a
`BudgetExceededError` raised by the wall-clock limit) and a `details` mapping, and
round-trips through `to_dict` / `from_dict` so it can cross a broker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AllAgentsFailedError",
    "BudgetExceededError",
    "ContextError",
    "DepthLimitError",
    "MurmurError",
    "RegistryError",
    "SpawnCapError",
    "SpawnCycleError",
    "SpawnError",
    "SpecValidationError",
    "ToolExecutionError",
    "TopologyError",
    "TrustViolationError",
    "error_from_dict",
]


class MurmurError(Exception):
    """Base class for all Murmur errors."""

    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def __reduce__(self) -> tuple[Any, ...]:
        return (error_from_dict, (self.to_dict(),))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe form of this error (type name, message, code, details)."""
        return {
            "type": type(self).__name__,
            "message": self.message,
            "code": self.code,
            "details": _json_safe(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MurmurError:
        """Rebuild an error produced by `to_dict` (unknown types become `MurmurError`)."""
        return error_from_dict(data)


class SpawnError(MurmurError):
    """Agent failed to spawn or its execution backend errored."""

    default_code = "spawn_failed"


class SpawnCycleError(MurmurError):
    """A cascading spawn would re-enter an ancestor agent, forming a cycle."""

    default_code = "spawn_cycle"


class SpawnCapError(MurmurError):
    """The runtime-wide cascading-spawn cap was exhausted."""

    default_code = "spawn_cap"


class ToolExecutionError(MurmurError):
    """A tool call requested by the agent failed during execution."""

    default_code = "tool_failed"


class ContextError(MurmurError):
    """Context preparation by a ContextPasser failed."""

    default_code = "context_failed"


class BudgetExceededError(MurmurError):
    """Token, cost, or wall-clock budget was exceeded."""

    default_code = "budget_exceeded"


class DepthLimitError(MurmurError):
    """Cascading-spawn depth limit was reached."""

    default_code = "depth_limit"


class RegistryError(MurmurError):
    """A spec was not found in the registry, or the registry rejected a write."""

    default_code = "not_found"


class TrustViolationError(MurmurError):
    """A tool call was denied because the agent's trust level forbids it."""

    default_code = "trust_violation"


class AllAgentsFailedError(MurmurError):
    """Every result in a fan-out tier failed; the downstream mapper was not called."""

    default_code = "all_failed"


class SpecValidationError(MurmurError):
    """An agent or group spec failed validation."""

    default_code = "invalid_spec"


class TopologyError(SpecValidationError):
    """An AgentGroup topology is invalid: cycle, dangling reference, or incompatible types."""

    default_code = "invalid_topology"


_BY_NAME: dict[str, type[MurmurError]] = {
    cls.__name__: cls
    for cls in (
        MurmurError,
        SpawnError,
        SpawnCycleError,
        SpawnCapError,
        ToolExecutionError,
        ContextError,
        BudgetExceededError,
        DepthLimitError,
        RegistryError,
        TrustViolationError,
        AllAgentsFailedError,
        SpecValidationError,
        TopologyError,
    )
}


def error_from_dict(data: Mapping[str, Any]) -> MurmurError:
    """Rebuild a `MurmurError` from its `to_dict` form."""
    cls = _BY_NAME.get(str(data.get("type", "")), MurmurError)
    return cls(
        str(data.get("message", "")),
        code=data.get("code"),
        details=data.get("details") or {},
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)

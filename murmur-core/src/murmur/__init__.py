"""murmur: a production runtime for multi-agent LLM systems.

```python
from murmur import Agent, AgentRuntime, TaskSpec

runtime = AgentRuntime()
result = await runtime.run(researcher, TaskSpec(input="What is NATS JetStream?"))
```

Everything users type is importable from here. `import murmur` stays light: PydanticAI,
brokers, OpenTelemetry and the HTTP stack are imported only when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from murmur.agent import Agent, AgentTemplate
    from murmur.core.budget import TokenBudget
    from murmur.core.errors import (
        AllAgentsFailedError,
        BudgetExceededError,
        ContextError,
        DepthLimitError,
        MurmurError,
        RegistryError,
        SpawnCapError,
        SpawnCycleError,
        SpawnError,
        SpecValidationError,
        ToolExecutionError,
        TopologyError,
        TrustViolationError,
    )
    from murmur.events import EventType, RuntimeEvent
    from murmur.groups import AgentGroup, Edge, FanOut, GroupResult
    from murmur.groups._spawn import SpawnResult
    from murmur.runtime import AgentRuntime, RuntimeOptions
    from murmur.types import AgentResult, GatherProgress, ResultMetadata, TaskSpec, TrustLevel

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentGroup",
    "AgentResult",
    "AgentRuntime",
    "AgentTemplate",
    "AllAgentsFailedError",
    "BudgetExceededError",
    "ContextError",
    "DepthLimitError",
    "Edge",
    "EventType",
    "FanOut",
    "GatherProgress",
    "GroupResult",
    "MurmurError",
    "RegistryError",
    "ResultMetadata",
    "RuntimeEvent",
    "RuntimeOptions",
    "SpawnCapError",
    "SpawnCycleError",
    "SpawnError",
    "SpawnResult",
    "SpecValidationError",
    "TaskSpec",
    "TokenBudget",
    "ToolExecutionError",
    "TopologyError",
    "TrustLevel",
    "TrustViolationError",
    "__version__",
]

# Every public name is imported on first access, so `import murmur.cli` (and therefore
# `murmur --help`) does not pay for pydantic models it never uses.
_LAZY = {
    "TokenBudget": "murmur.core.budget",
    "Agent": "murmur.agent",
    "AgentTemplate": "murmur.agent",
    "EventType": "murmur.events",
    "RuntimeEvent": "murmur.events",
    "AgentRuntime": "murmur.runtime",
    "RuntimeOptions": "murmur.runtime",
    "AgentResult": "murmur.types",
    "GatherProgress": "murmur.types",
    "ResultMetadata": "murmur.types",
    "TaskSpec": "murmur.types",
    "TrustLevel": "murmur.types",
    "AgentGroup": "murmur.groups",
    "Edge": "murmur.groups",
    "FanOut": "murmur.groups",
    "GroupResult": "murmur.groups",
    "SpawnResult": "murmur.groups._spawn",
    **{
        name: "murmur.core.errors"
        for name in (
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
        )
    },
}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value

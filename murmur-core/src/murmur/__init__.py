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

from murmur._budget import TokenBudget
from murmur.agent import Agent, AgentTemplate
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
from murmur.runtime import AgentRuntime, RuntimeOptions
from murmur.types import AgentResult, ResultMetadata, TaskSpec, TrustLevel

if TYPE_CHECKING:
    from murmur.groups import AgentGroup, Edge, FanOut, GroupResult
    from murmur.groups._spawn import SpawnResult

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

# Names whose modules are imported on first access.
_LAZY = {
    "AgentGroup": "murmur.groups",
    "Edge": "murmur.groups",
    "FanOut": "murmur.groups",
    "GroupResult": "murmur.groups",
    "SpawnResult": "murmur.groups._spawn",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value

"""murmur-client: drive a murmur runtime over HTTP (`MurmurClient`) or in-process (`LocalClient`).

```python
from murmur_client import MurmurClient

async with MurmurClient("http://127.0.0.1:8420") as client:
    run = await client.start_run("researcher", "What is NATS JetStream?")
    result = await client.wait(run.run_id, timeout=60)
```

`MurmurClient` and `LocalClient(runtime)` implement one interface, `RuntimeClient`, so code
written against one runs against the other. httpx is imported only when `MurmurClient` is
first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from murmur_client._broadcast import EventBroadcaster, Lagged, Subscription
from murmur_client._local import LocalClient
from murmur_client._models import (
    AgentInfo,
    BudgetInfo,
    ErrorInfo,
    ErrorResponse,
    GroupInfo,
    Health,
    Readiness,
    RunInfo,
    RunKind,
    RunPage,
    RunProgress,
    RunResult,
    RunStatus,
    RuntimeStats,
    RunTreeNode,
    StartGatherRequest,
    StartGroupRequest,
    StartRunRequest,
    ToolsReport,
    ToolStat,
    UsageGroupBy,
    UsageReport,
    UsageRow,
    WorkerInfo,
)
from murmur_client._protocol import RESULT_WAIT_MAX, RuntimeClient, TimeBound
from murmur_client._sse import ServerSentEvent, parse_sse

if TYPE_CHECKING:
    from murmur_client._http import TOKEN_ENV_VAR, MurmurClient

__all__ = [
    "RESULT_WAIT_MAX",
    "TOKEN_ENV_VAR",
    "AgentInfo",
    "BudgetInfo",
    "ErrorInfo",
    "ErrorResponse",
    "EventBroadcaster",
    "GroupInfo",
    "Health",
    "Lagged",
    "LocalClient",
    "MurmurClient",
    "Readiness",
    "RunInfo",
    "RunKind",
    "RunPage",
    "RunProgress",
    "RunResult",
    "RunStatus",
    "RunTreeNode",
    "RuntimeClient",
    "RuntimeStats",
    "ServerSentEvent",
    "StartGatherRequest",
    "StartGroupRequest",
    "StartRunRequest",
    "Subscription",
    "TimeBound",
    "ToolStat",
    "ToolsReport",
    "UsageGroupBy",
    "UsageReport",
    "UsageRow",
    "WorkerInfo",
    "parse_sse",
]

_LAZY = {"MurmurClient": "murmur_client._http", "TOKEN_ENV_VAR": "murmur_client._http"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur_client' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value

"""Coordination: typed agent groups (DAGs with fan-out / fan-in) and LLM-driven spawning.

```python
from murmur import AgentGroup, Edge, TaskSpec

crew = AgentGroup(
    name="research",
    topology={
        researcher: Edge(to=(reviewer,)),
        reviewer: Edge(to=(summariser,)),
        summariser: Edge.terminal(),
    },
)
result = await runtime.run_group(crew, TaskSpec(input="What is NATS JetStream?"))
```

`make_spawn_agents_tool` / `SpawnResult` (LLM-driven fan-out) live in
`murmur.groups._spawn` and are re-exported by `murmur.tools` and `murmur`.
"""

from __future__ import annotations

from murmur.groups._checkpoint import (
    GroupCheckpoint,
    MemoryCheckpoint,
    NodeCheckpoint,
    StoreCheckpoint,
)
from murmur.groups._edge import Edge, FanOut, fanout_field
from murmur.groups._group import AgentGroup
from murmur.groups._result import GroupResult, NodeResult, NodeStatus
from murmur.groups._runner import run_group

__all__ = [
    "AgentGroup",
    "Edge",
    "FanOut",
    "GroupCheckpoint",
    "GroupResult",
    "MemoryCheckpoint",
    "NodeCheckpoint",
    "NodeResult",
    "NodeStatus",
    "StoreCheckpoint",
    "fanout_field",
    "run_group",
]

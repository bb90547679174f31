"""The distributed worker and the relay of its events.

`Worker` consumes agent queues on a broker; `BrokerEventBridge` relays its events to the publishers
of its tasks.

```python
from murmur.worker import Worker

worker = Worker(broker="redis://localhost:6379", agents={"researcher": researcher})
await worker.start()
```
"""

from __future__ import annotations

from murmur.transport._relay import BrokerEventBridge, TaskRoute, current_route
from murmur.worker._support import WorkerStats, default_consumer_id, delivered_context
from murmur.worker._worker import Worker

__all__ = [
    "BrokerEventBridge",
    "TaskRoute",
    "Worker",
    "WorkerStats",
    "current_route",
    "default_consumer_id",
    "delivered_context",
]

"""The backend contract: what a run looks like to its caller, whatever executes it.

- `BackendContract`: typed outputs, gather order and bounded in-flight, failures as results,
  the same events as a local run, hooks applied once, timeouts. Provide `make_runtime`
  (`LocalBackendContract` does, for in-process runtimes).
- `BrokerBackendContract`: the same on a worker fleet over a broker URL (in-process `Worker`s
  consume it), plus what only a broker has: duplicate results dropped, idempotent task ids,
  signed envelopes (forged / unsigned / tampered / replayed / stale refused and never
  executed; a worker with the wrong key refuses everything; key rotation), expired tasks
  dropped, abandoned deliveries reclaimed, cancelled callers cancelling their work, graceful
  stop, fleet events relayed. Provide `broker_url` (a namespace unique to the test):

```python
class TestRedisFleet(BrokerBackendContract):
    @pytest.fixture
    def broker_url(self):
        return f"redis://127.0.0.1:6379/0?namespace=test-{uuid.uuid4().hex}"
```
"""

from __future__ import annotations

from murmur.testing._backend_base import BackendContract, Finding, LocalBackendContract, Probe
from murmur.testing._fleet import BrokerBackendContract, Fleet

__all__ = [
    "BackendContract",
    "BrokerBackendContract",
    "Finding",
    "Fleet",
    "LocalBackendContract",
    "Probe",
]

"""The broker restart scenario: a broker restarted under load, callers and workers recover.

Subclass `BrokerRestartScenario` and provide a `broker` fixture: a `PrivateBroker` (usually
a `ServerProcess`) of the test's own on a spare port, which the scenario stops and starts
again mid-load. `durable = True` asserts no run is lost and none is answered twice;
`durable = False` (a broker that forgets queued tasks on restart) asserts every run ends
with its correct result or a typed error before its deadline.

```python
class TestMyBrokerRestart(BrokerRestartScenario):
    durable = True

    @pytest.fixture
    async def broker(self, tmp_path):
        port = free_port()
        server = ServerProcess(["my-broker", "--port", str(port), "--data", str(tmp_path)],
                               port=port, url=f"mybroker://127.0.0.1:{port}",
                               log=tmp_path / "broker.log")
        await server.start()
        yield server
        await server.aclose()
```
"""

from __future__ import annotations

from murmur.testing._restart import (
    BrokerRestartScenario,
    PrivateBroker,
    ServerProcess,
    free_port,
    require_executable,
)

__all__ = [
    "BrokerRestartScenario",
    "PrivateBroker",
    "ServerProcess",
    "free_port",
    "require_executable",
]

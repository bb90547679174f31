"""Agent processes: supervised, observable, composable agent programs on murmur's runtime.

```python
from murmur.processes import agent, agent_process, done, fail, wait


@agent_process
async def run_task(spec: str) -> str:
    worker = await agent("worker")

    @worker.on("finish")
    async def on_finish(summary: str) -> str:
        \"\"\"Call with your result when the task is done.\"\"\"
        done(summary)
        return "Recorded."

    await worker.send(f"Task: {spec}. When done, call finish(summary).")
    return await wait()
```

See `docs/processes.md`. Names resolve on first use, so `murmur ps` (which imports the
light `_home` module of this package) does not import the runtime.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from murmur.processes._agent import AgentHandle, agent
    from murmur.processes._decorator import ProcessFunction, agent_process, spawn, use_runtime
    from murmur.processes._handle import ProcessHandle, bubble
    from murmur.processes._machines import CommandResult, LocalMachine, Machine, machine
    from murmur.processes._process import (
        Endpoint,
        ProcessEvent,
        current_runtime,
        done,
        emit,
        expose,
        fail,
        wait,
    )
    from murmur.processes._supervise import restarting, worker_pool

__all__ = [
    "AgentHandle",
    "CommandResult",
    "Endpoint",
    "LocalMachine",
    "Machine",
    "ProcessEvent",
    "ProcessFunction",
    "ProcessHandle",
    "agent",
    "agent_process",
    "bubble",
    "current_runtime",
    "done",
    "emit",
    "expose",
    "fail",
    "machine",
    "restarting",
    "spawn",
    "use_runtime",
    "wait",
    "worker_pool",
]

_LAZY = {
    "AgentHandle": "murmur.processes._agent",
    "agent": "murmur.processes._agent",
    "ProcessFunction": "murmur.processes._decorator",
    "agent_process": "murmur.processes._decorator",
    "spawn": "murmur.processes._decorator",
    "use_runtime": "murmur.processes._decorator",
    "CommandResult": "murmur.processes._machines",
    "LocalMachine": "murmur.processes._machines",
    "Machine": "murmur.processes._machines",
    "machine": "murmur.processes._machines",
    "restarting": "murmur.processes._supervise",
    "worker_pool": "murmur.processes._supervise",
    "ProcessHandle": "murmur.processes._handle",
    "bubble": "murmur.processes._handle",
    **{
        name: "murmur.processes._process"
        for name in (
            "Endpoint",
            "ProcessEvent",
            "current_runtime",
            "done",
            "emit",
            "expose",
            "fail",
            "wait",
        )
    },
}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur.processes' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value

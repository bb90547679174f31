"""Run by `StoreExitContract` in a child interpreter.

Usage: `python -m murmur.testing._exit_child MODE COUNT URL_TEMPLATE [MODULE,...]`.

Imports murmur, PydanticAI and the store plugin once, then forks COUNT children at once.
Child `i` records into `URL_TEMPLATE.format(i=i)` through `AgentRuntime(store=...)`
without ever closing it: one run (`run-<i>`), a gather of two (`gather-<i>`), then one
more event emitted straight to the runtime (`marker-<i>`, still buffered in stores that
buffer), and ends its program by MODE:

- `return`: `asyncio.run(main())` returns and the interpreter exits normally (code 0);
- `raise`: an exception escapes `asyncio.run` (code 1);
- `exit-in-task`: a task calls `sys.exit(3)` (code 3).

Each child is a real interpreter shutdown (atexit hooks run); forking only skips paying
the imports once per child. The parent prints the children's exit codes as JSON.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from importlib.metadata import entry_points
from urllib.parse import urlsplit

MODES = {"return": 0, "raise": 1, "exit-in-task": 3}


async def _record(url: str, index: int, mode: str) -> None:
    from murmur import Agent, AgentRuntime, TaskSpec
    from murmur.events import EventType, NullEventEmitter, RuntimeEvent

    runtime = AgentRuntime(store=url, event_emitter=NullEventEmitter())
    agent = Agent(name="echo", model="test")
    await runtime.run(agent, TaskSpec(input="hello", trace_id=f"run-{index}"))
    await runtime.gather(agent, ["a", "b"], run_id=f"gather-{index}")
    await runtime.emit(
        RuntimeEvent(
            event_type=EventType.AGENT_SPAWNED, agent_name="marker", trace_id=f"marker-{index}"
        )
    )
    if mode == "raise":
        raise RuntimeError(f"child {index} ends with an exception")
    if mode == "exit-in-task":

        async def leave() -> None:
            sys.exit(3)

        await asyncio.create_task(leave())


def _child(url: str, index: int, mode: str) -> None:
    asyncio.run(_record(url, index, mode))
    sys.exit(0)


def main() -> None:
    mode, count, template = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode not in MODES:
        raise SystemExit(f"unknown mode {mode!r} (known: {', '.join(MODES)})")
    # Pay the imports and first-use costs once, before forking: a whole program on the
    # memory store (PydanticAI, the test model, schemas), then the store plugin's module.
    asyncio.run(_record("memory://", -1, "return"))
    for module in filter(None, (sys.argv[4] if len(sys.argv) > 4 else "").split(",")):
        importlib.import_module(module)  # the store's driver, imported lazily otherwise
    scheme = urlsplit(template).scheme
    for entry in entry_points(group="murmur.stores", name=scheme):
        entry.load()
    pids: dict[int, int] = {}
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            _child(template.format(i=index), index, mode)
        pids[pid] = index
    codes: dict[int, int] = {}
    for pid, index in pids.items():
        _, status = os.waitpid(pid, 0)
        codes[index] = os.waitstatus_to_exitcode(status)
    print(json.dumps(codes))


if __name__ == "__main__":
    main()

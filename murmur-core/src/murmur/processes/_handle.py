"""`ProcessHandle`: what a parent (or any caller) holds of a process, and `bubble`.

Observe a process (`events`, `agents`), call its endpoints in its scope (`call`), make them
tools of an agent (`attach`), cancel it, or await its result.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

from murmur.core.errors import RegistryError, SpawnError
from murmur.events._model import EventType
from murmur.processes._process import (
    AgentLike,
    Endpoint,
    Process,
    ProcessEvent,
    current_process,
    enter,
    json_safe,
    leave,
)

__all__ = ["ProcessHandle", "bubble"]


class ProcessHandle:
    """A handle on a running (or ended) process: observe it, call it, attach it, cancel it.

    `await handle` waits for the process and returns its result (or raises its error).
    """

    def __init__(self, process: Process) -> None:
        self.process = process

    def __repr__(self) -> str:
        return f"ProcessHandle({self.process.name!r}, status={self.process.status!r})"

    @property
    def id(self) -> str:
        """The process id (also its trace id in the event store)."""
        return self.process.id

    @property
    def status(self) -> str:
        """`running`, `done`, `failed` or `cancelled`."""
        return self.process.status

    @property
    def events(self) -> AsyncIterator[ProcessEvent]:
        """The process's events from its start, then live, until it ends."""
        return self.process.events()

    @property
    def agents(self) -> dict[str, Any]:
        """The child's agent handles created so far, by name."""
        return dict(self.process.agents)

    @property
    def endpoints(self) -> list[str]:
        """The names of the endpoints the process has exposed so far."""
        return list(self.process.endpoints)

    async def call(self, name: str, /, **kwargs: Any) -> Any:
        """Call the endpoint `name` in the process's scope and return what it returns.

        Raises:
            RegistryError: no such endpoint (the message lists the exposed ones).
            SpawnError: the process has ended (code `"process_ended"`).
        """
        process = self.process
        endpoint = self._endpoint(name)
        if not process.running:
            raise SpawnError(
                f"process {process.name!r} has ended ({process.status}); its endpoint "
                f"{name!r} can no longer be called",
                code="process_ended",
            )
        process.publish(
            EventType.ENDPOINT_CALLED,
            {"process": process.name, "endpoint": name, "args": json_safe(kwargs)},
        )
        started = time.perf_counter()
        token = enter(process)
        try:
            result = await endpoint.function(**kwargs)
        except BaseException as exc:
            process.publish(
                EventType.ENDPOINT_RETURNED,
                {"process": process.name, "endpoint": name, "error": repr(exc), "ok": False},
            )
            raise
        finally:
            leave(token)
        process.publish(
            EventType.ENDPOINT_RETURNED,
            {
                "process": process.name,
                "endpoint": name,
                "ok": True,
                "result": json_safe(result),
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )
        return result

    def _endpoint(self, name: str) -> Endpoint:
        endpoint = self.process.endpoints.get(name)
        if endpoint is None:
            known = ", ".join(sorted(self.process.endpoints)) or "none yet"
            raise RegistryError(
                f"process {self.process.name!r} exposes no endpoint {name!r} (exposed: {known})",
                details={"process": self.process.name, "endpoint": name},
            )
        return endpoint

    async def attach(
        self, agent: AgentLike, *, only: list[str] | None = None, prefix: str = ""
    ) -> list[str]:
        """Make the process's endpoints tools of `agent` (gated like any tool).

        Args:
            agent: an agent handle (from `await agent(...)`).
            only: the endpoints to attach (default: every endpoint exposed so far).
            prefix: put before each tool name (`prefix="pool_"` -> `pool_add_task`).

        Returns:
            The tool names added.

        Raises:
            RegistryError: a name in `only` is not an endpoint.
        """
        names = list(self.process.endpoints) if only is None else list(only)
        added = []
        for name in names:
            endpoint = self._endpoint(name)
            agent.on(
                f"{prefix}{name}",
                read_only=endpoint.read_only,
                description=endpoint.description,
            )(self._caller(endpoint))
            added.append(f"{prefix}{name}")
        return added

    def _caller(self, endpoint: Endpoint) -> Callable[..., Any]:
        @functools.wraps(endpoint.function)
        async def call(**kwargs: Any) -> Any:
            return await self.call(endpoint.name, **kwargs)

        return call

    def cancel(self) -> None:
        """Cancel the process and its children (a `cancelled` event ends its stream)."""
        self.process.cancel("cancelled through its handle")

    def __await__(self) -> Generator[Any, None, Any]:
        return self._result().__await__()

    async def _result(self) -> Any:
        task = self.process.task
        if task is not None:
            await asyncio.wait([task])
        return self.process.outcome()


def bubble(handle: ProcessHandle, source: str | None = None) -> ProcessHandle:
    """Forward a child's events onto the current process's stream, tagged with `source`.

    Returns:
        `handle`, so `bubble(spawn(task, spec), source=tid)` reads as one step.
    """
    current_process().forward(handle.process, source)
    return handle

"""A root process's run: event delivery, JSONL logs, and the agent-event routing.

`Live` belongs to one root process (an execution). Process events are published to it
synchronously (`emit` is not awaited in a process) and delivered to the runtime in order by
one drainer task, so they reach the event store, the SSE stream and OTel like every other
`RuntimeEvent`. Every event the runtime emits during the run is written to
`<log dir>/runtime.jsonl`; the events of an agent handle's turns also go to
`<log dir>/agents/<agent>.<process id>.jsonl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any, Protocol

from murmur.events._model import RuntimeEvent
from murmur.runtime import AgentRuntime

__all__ = ["EventSink", "Live"]

_RECENT = 2000


class EventSink(Protocol):
    """Receives the events of the runs it watches (an agent handle)."""

    log_name: str

    def observe(self, event: RuntimeEvent) -> None:
        """Take one event of a watched run."""


class _Router:
    """One emitter per runtime, handing every event to the runs live on it."""

    def __init__(self) -> None:
        self.lives: set[Live] = set()

    async def emit(self, event: RuntimeEvent) -> None:
        for live in list(self.lives):
            live.observe(event)


_ROUTERS: weakref.WeakKeyDictionary[AgentRuntime, _Router] = weakref.WeakKeyDictionary()


def _router(runtime: AgentRuntime) -> _Router:
    router = _ROUTERS.get(runtime)
    if router is None:
        router = _ROUTERS[runtime] = _Router()
        runtime.add_emitter(router)
    return router


class Live:
    """The shared state of one execution: its runtime, event outbox, logs and tail streams.

    Args:
        runtime: the runtime every process of the execution uses.
        execution_id: the root process's id.
        log_dir: where the JSONL logs go (None: no logs).
    """

    def __init__(self, runtime: AgentRuntime, execution_id: str, log_dir: Path | None) -> None:
        self.runtime = runtime
        self.execution_id = execution_id
        self.log_dir = log_dir
        self._outbox: asyncio.Queue[RuntimeEvent] = asyncio.Queue()
        self._drainer: asyncio.Task[None] | None = None
        self._watched: dict[str, EventSink] = {}
        self._traces: set[str] = set()
        self._files: dict[str, IO[str]] = {}
        self._recent: deque[RuntimeEvent] = deque(maxlen=_RECENT)
        self._tails: set[asyncio.Queue[RuntimeEvent | None]] = set()
        self.closed = False

    async def open(self) -> None:
        """Start delivering events and writing logs."""
        if self.log_dir is not None:
            (self.log_dir / "agents").mkdir(parents=True, exist_ok=True)
        _router(self.runtime).lives.add(self)
        self._drainer = asyncio.create_task(self._drain(), name=f"murmur-live-{self.execution_id}")

    def publish(self, event: RuntimeEvent) -> None:
        """Deliver `event` to the runtime soon, after every event published before it."""
        if self.closed:
            return
        self._outbox.put_nowait(event)

    async def deliver(self, event: RuntimeEvent) -> None:
        """Deliver `event` to the runtime now, ahead of what is queued."""
        if not self.closed:
            await self.runtime.emit(event)

    async def _drain(self) -> None:
        while True:
            event = await self._outbox.get()
            try:
                await self.runtime.emit(event)
            finally:
                self._outbox.task_done()

    def adopt(self, trace_id: str) -> None:
        """Count the run (or process) `trace_id` and the runs under it as this execution's."""
        self._traces.add(trace_id)

    def watch(self, trace_id: str, sink: EventSink) -> None:
        """Send the events of the run `trace_id` to `sink` too."""
        self._traces.add(trace_id)
        self._watched[trace_id] = sink

    def unwatch(self, trace_id: str) -> None:
        """Stop `watch`."""
        self._watched.pop(trace_id, None)

    def observe(self, event: RuntimeEvent) -> None:
        """Take one event the runtime emitted (called by the runtime's router).

        Only this execution's events: its processes, their agents' runs and the runs those
        spawn (another root may share the runtime).
        """
        if self.closed:
            return
        if event.trace_id not in self._traces:
            if event.parent_trace_id not in self._traces or event.trace_id is None:
                return
            self._traces.add(event.trace_id)
        self._recent.append(event)
        self._write("runtime.jsonl", event)
        sink = self._watched.get(event.trace_id or "")
        if sink is not None:
            sink.observe(event)
            self._write(f"agents/{sink.log_name}.jsonl", event)
        for queue in self._tails:
            queue.put_nowait(event)

    def _write(self, name: str, event: RuntimeEvent) -> None:
        if self.log_dir is None:
            return
        stream = self._files.get(name)
        if stream is None:
            stream = self._files[name] = (self.log_dir / name).open("a", encoding="utf-8")
        stream.write(event.to_json() + "\n")
        stream.flush()

    async def tail(self, *, replay: bool = True) -> AsyncIterator[RuntimeEvent]:
        """The run's events as they come (after the recent ones, with `replay`), to its end."""
        queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        if replay:
            for event in self._recent:
                queue.put_nowait(event)
        if self.closed:
            queue.put_nowait(None)
        self._tails.add(queue)
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self._tails.discard(queue)

    async def close(self) -> None:
        """Deliver what is still queued, end tails, close the log files."""
        if self._drainer is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10.0):
                    await self._outbox.join()
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        self.closed = True
        _router(self.runtime).lives.discard(self)
        for queue in self._tails:
            queue.put_nowait(None)
        for stream in self._files.values():
            stream.close()
        self._files.clear()

    def snapshot(self) -> dict[str, Any]:
        """Where this run's logs are."""
        return {"execution_id": self.execution_id, "log_dir": str(self.log_dir or "")}

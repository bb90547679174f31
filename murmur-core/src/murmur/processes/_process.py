"""A running agent process, its event stream, and the ambient functions.

Each process runs in an asyncio task of its own, and that task's context says which process
is current. So a process that awaits or spawns another never loses its own identity: the
child is current only inside the child's task (and inside an endpoint call or a tool
handler, which enter their owner's scope explicitly for the duration of the call).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable, Generator
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar, overload

from murmur.core.errors import BudgetExceededError, MurmurError, SpawnError
from murmur.core.ids import new_id
from murmur.core.json import dump_value
from murmur.events._model import EventType, RuntimeEvent
from murmur.processes._live import Live
from murmur.runtime import AgentRuntime

__all__ = [
    "Endpoint",
    "Process",
    "ProcessEvent",
    "current_process",
    "current_runtime",
    "done",
    "emit",
    "enter",
    "expose",
    "fail",
    "json_safe",
    "leave",
    "wait",
]

F = TypeVar("F", bound=Callable[..., Any])

_current: ContextVar[Process | None] = ContextVar("murmur_current_process", default=None)

_PREVIEW = 500


@dataclass(frozen=True, slots=True)
class ProcessEvent:
    """One event on a process's stream.

    Lifecycle events are `started`, `done` (`data`: the result), `failed` (`data`: the
    reason) and `cancelled` (`data`: why); `emit(type, data)` adds its own. An event
    forwarded by `bubble(handle, source=...)` carries that `source` (nested bubbles join
    theirs with `/`).
    """

    type: str
    data: Any = None
    source: str | None = None
    process: str = ""
    process_id: str = ""
    timestamp: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An async function a process exposes to `handle.call()` and `handle.attach()`.

    `read_only` endpoints are the only ones a LOW-trust agent may call once attached.
    """

    name: str
    function: Callable[..., Any]
    read_only: bool = False
    description: str | None = None


class AgentLike(Protocol):
    """What a process knows of its agent handles (`murmur.processes.AgentHandle`)."""

    name: str

    def on(
        self, tool_name: str, *, read_only: bool = False, description: str | None = None
    ) -> Callable[[F], F]:
        """Register a tool handler."""
        ...

    def status(self) -> dict[str, Any]:
        """A JSON-safe summary."""
        ...

    async def send(self, message: Any) -> Any:
        """One conversational turn."""
        ...


class Process:
    """The state of one running agent process (users see it through `ProcessHandle`).

    Args:
        name: the process function's name.
        live: the execution this process belongs to.
        parent: the process that started it (None for the root).
        timeout: seconds the process may run (None: no limit).
        id: the process id (default: a new one).
    """

    def __init__(
        self,
        name: str,
        live: Live,
        parent: Process | None,
        timeout: float | None = None,
        *,
        id: str | None = None,
    ) -> None:
        self.id = id or new_id()
        self.name = name
        self.live = live
        live.adopt(self.id)
        self.parent = parent
        self.timeout = timeout
        self.children: list[Process] = []
        self.agents: dict[str, AgentLike] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.log: list[ProcessEvent] = []
        self.status = "starting"
        self.result: Any = None
        self.error: MurmurError | None = None
        self.task: asyncio.Task[None] | None = None
        self.machines: list[Any] = []
        self._wake = asyncio.Event()
        self._ended = False
        self.finished = asyncio.Event()
        self._signal: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self._bubbles: dict[asyncio.Task[None], Process] = {}
        self._cancel_reason: str | None = None
        if parent is not None:
            parent.children.append(self)

    @property
    def runtime(self) -> AgentRuntime:
        """The runtime of this process's execution."""
        return self.live.runtime

    @property
    def running(self) -> bool:
        """True until the process has ended."""
        return not self._ended

    # -- events ---------------------------------------------------------------------------

    def record(
        self,
        type_: str,
        data: Any = None,
        *,
        event_type: EventType | None = EventType.PROCESS_EMITTED,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Append an event to the stream and, unless `event_type` is None, publish it."""
        self._append(ProcessEvent(type_, data, None, self.name, self.id))
        if event_type is not None:
            body = {"process": self.name, "type": type_, **(payload or {})}
            if event_type is EventType.PROCESS_EMITTED:
                body["data"] = json_safe(data)
            self.publish(event_type, body)

    def publish(self, event_type: EventType, payload: dict[str, Any]) -> None:
        """Publish a `RuntimeEvent` about this process (it goes to the store, SSE, OTel)."""
        self.live.publish(self._event(event_type, payload))

    def _event(self, event_type: EventType, payload: dict[str, Any]) -> RuntimeEvent:
        return RuntimeEvent(
            event_type=event_type,
            agent_name=self.name,
            task_id=self.id,
            trace_id=self.id,
            parent_trace_id=self.parent.id if self.parent else None,
            payload=payload,
        )

    def _append(self, event: ProcessEvent) -> None:
        if self._ended:
            return
        self.log.append(event)
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()

    async def events(self) -> AsyncIterator[ProcessEvent]:
        """Every event from the start, then each new one, until the process has ended."""
        index = 0
        while True:
            wake = self._wake
            while index < len(self.log):
                yield self.log[index]
                index += 1
            if self._ended:
                return
            await wake.wait()

    # -- lifecycle ------------------------------------------------------------------------

    def signal(self, ok: bool, value: Any) -> None:
        """`done` (ok) or `fail`: the first signal wins; `wait()` returns or raises it."""
        if not self._signal.done():
            self._signal.set_result((ok, value))

    async def wait_signal(self) -> Any:
        """Block until `done` or `fail`; return the result or raise the failure."""
        ok, value = await asyncio.shield(self._signal)
        if ok:
            return value
        raise self._failure(value)

    def _failure(self, reason: Any) -> MurmurError:
        if isinstance(reason, MurmurError):
            return reason
        return SpawnError(
            f"process {self.name!r} failed: {reason}",
            code="process_failed",
            details={"process": self.name, "process_id": self.id, "reason": json_safe(reason)},
        )

    def start(self, function: Callable[..., Any], args: Any, kwargs: Any) -> asyncio.Task[None]:
        """Run `function(*args, **kwargs)` as this process, in a task of its own."""
        self.task = asyncio.create_task(
            self._main(function, args, kwargs), name=f"murmur-process-{self.name}-{self.id[:8]}"
        )
        self.task.add_done_callback(self._task_done)
        return self.task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before it ever ran never entered `_main`: end the process here.
        if self._ended:
            return
        self._cancelled(self._cancel_reason or "cancelled before it started")

    def _cancelled(self, reason: str) -> None:
        """End the process as cancelled for `reason` (its error, its event, its end)."""
        self.status = "cancelled"
        self.error = SpawnError(
            f"process {self.name!r} was cancelled: {reason}",
            code="process_cancelled",
            details={"process": self.name, "process_id": self.id, "reason": reason},
        )
        self.record(
            "cancelled", reason, event_type=EventType.PROCESS_CANCELLED, payload={"reason": reason}
        )
        self._end()

    async def _main(self, function: Callable[..., Any], args: Any, kwargs: Any) -> None:
        _current.set(self)  # this task's context only
        self.status = "running"
        self._append(ProcessEvent("started", None, None, self.name, self.id))
        # Delivered now, not queued: the event log, the run tree and OTel see the process
        # start before anything it runs (its agents' runs, its children).
        await self.live.deliver(self._event(EventType.PROCESS_STARTED, {"process": self.name}))
        try:
            async with asyncio.timeout(self.timeout) as scope:
                try:
                    value = await function(*args, **kwargs)
                except TimeoutError:
                    if scope.expired():
                        raise
                    raise SpawnError(f"process {self.name!r} raised TimeoutError") from None
            if self._signal.done() and not self._signal.result()[0]:
                raise self._failure(self._signal.result()[1])
        except asyncio.CancelledError:
            await self._end_children(f"parent {self.name!r} was cancelled")
            self._cancelled(self._cancel_reason or "cancelled")
            raise
        except TimeoutError:
            self._fail(_timeout(self))
        except MurmurError as exc:
            self._fail(exc)
        except Exception as exc:
            error = SpawnError(
                f"process {self.name!r} raised {exc!r}",
                code="process_error",
                details={"process": self.name, "exception": type(exc).__name__},
            )
            error.__cause__ = exc
            self._fail(error)
        else:
            self.status = "done"
            self.result = value
            await self._end_children(f"parent {self.name!r} ended")
            self.record(
                "done",
                value,
                event_type=EventType.PROCESS_DONE,
                payload={"result": json_safe(value)},
            )
        if self.status == "failed":
            await self._end_children(f"parent {self.name!r} failed")
            assert self.error is not None
            self.record(
                "failed",
                self.error.details.get("reason", self.error.message),
                event_type=EventType.PROCESS_FAILED,
                payload={"error": self.error.message, "code": self.error.code},
            )
        self._end()

    def _fail(self, error: MurmurError) -> None:
        self.status = "failed"
        self.error = error

    async def _end_children(self, reason: str) -> None:
        """Cancel every unfinished child (and wait for them), then let bubbles drain."""
        pending = [c for c in self.children if c.running and c.task is not None]
        for child in pending:
            child.cancel(reason)
        tasks = [c.task for c in pending if c.task is not None]
        if tasks:
            await asyncio.wait(tasks)
        for task, source in list(self._bubbles.items()):
            if source.running:
                task.cancel()
        if self._bubbles:
            await asyncio.wait(list(self._bubbles))

    def _end(self) -> None:
        for machine in self.machines:
            close = getattr(machine, "close", None)
            if close is not None:
                close()
        self._ended = True
        self._wake.set()
        self.finished.set()

    def cancel(self, reason: str = "cancelled") -> None:
        """Cancel the process (and so its children); a no-op once it has ended."""
        if self.running and self.task is not None and not self.task.done():
            self._cancel_reason = self._cancel_reason or reason
            self.task.cancel()

    def outcome(self) -> Any:
        """The result, or raise the typed error, of an ended process."""
        if self.error is not None:
            raise self.error
        return self.result

    # -- bubbling -------------------------------------------------------------------------

    def forward(self, child: Process, source: str | None) -> None:
        """Forward `child`'s events (all of them, from its start) onto this stream."""

        async def pump() -> None:
            async for event in child.events():
                joined = "/".join(s for s in (source, event.source) if s) or None
                self._append(replace(event, source=joined))

        task = asyncio.create_task(pump(), name=f"murmur-bubble-{child.name}")
        self._bubbles[task] = child
        task.add_done_callback(lambda t: self._bubbles.pop(t, None))

    # -- status ---------------------------------------------------------------------------

    def status_tree(self) -> dict[str, Any]:
        """This process and its descendants as JSON (for `murmur ps status`)."""
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "agents": [a.status() for a in self.agents.values()],
            "endpoints": [
                {"name": e.name, "read_only": e.read_only, "description": e.description}
                for e in self.endpoints.values()
            ],
            "children": [c.status_tree() for c in self.children],
        }

    def walk(self) -> Generator[Process]:
        """This process and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def _timeout(process: Process) -> MurmurError:
    return BudgetExceededError(
        f"process {process.name!r} ran past its timeout of {process.timeout}s; raise "
        "agent_process(timeout=...) or split the work",
        code="timeout",
        details={"process": process.name, "timeout_s": process.timeout},
    )


def json_safe(value: Any) -> Any:
    try:
        return dump_value(value)
    except Exception:
        text = repr(value)
        return text if len(text) <= _PREVIEW else text[:_PREVIEW] + "..."


# -- scope -------------------------------------------------------------------------------


def current_process() -> Process:
    """The process whose code is running.

    Raises:
        SpawnError: called outside any `@agent_process` (code `"no_process"`).
    """
    process = _current.get()
    if process is None:
        raise SpawnError(
            "this function works only inside an @agent_process: decorate the async function "
            "that calls it with @agent_process and await it",
            code="no_process",
        )
    return process


def enter(process: Process) -> Token[Process | None]:
    """Make `process` current in this task (an endpoint call, a tool handler)."""
    return _current.set(process)


def leave(token: Token[Process | None]) -> None:
    """Undo `enter`."""
    _current.reset(token)


def maybe_current() -> Process | None:
    """The current process, or None outside any."""
    return _current.get()


# -- ambient functions -------------------------------------------------------------------


def current_runtime() -> AgentRuntime:
    """The `AgentRuntime` of the current process's execution (rarely needed)."""
    return current_process().runtime


def done(result: Any = None) -> None:
    """Signal that the current process succeeded with `result` (`wait()` returns it)."""
    current_process().signal(True, result)


def fail(reason: Any) -> None:
    """Signal that the current process failed: `wait()` raises, and the process fails."""
    current_process().signal(False, reason)


async def wait() -> Any:
    """Block until `done()` or `fail()` is called in this process.

    Returns:
        The value given to `done()`.

    Raises:
        SpawnError: `fail(reason)` was called (code `"process_failed"`).
    """
    return await current_process().wait_signal()


def emit(type: str, data: Any = None) -> None:
    """Add an event to the current process's stream; it is also persisted as a RuntimeEvent."""
    current_process().record(type, data)


@overload
def expose(function: F, /) -> F: ...


@overload
def expose(
    *, read_only: bool = False, name: str | None = None, description: str | None = None
) -> Callable[[F], F]: ...


def expose(
    function: Callable[..., Any] | None = None,
    /,
    *,
    read_only: bool = False,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """Register an async function as an endpoint of the current process.

    Other code calls it with `handle.call(name, **kwargs)`; `handle.attach(agent)` makes it
    a tool of an agent. It runs in this process's scope: `emit`, `done` and `fail` inside it
    affect this process. Mark endpoints without side effects `@expose(read_only=True)`: only
    those may be called by a LOW-trust agent.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.iscoroutinefunction(fn):
            raise SpawnError(
                f"@expose needs an async function, got {fn!r}; write `async def`",
                code="invalid_endpoint",
            )
        endpoint = Endpoint(
            name=name or getattr(fn, "__name__", "endpoint"),
            function=fn,
            read_only=read_only,
            description=description or inspect.getdoc(fn),
        )
        current_process().endpoints[endpoint.name] = endpoint
        return fn

    return register if function is None else register(function)

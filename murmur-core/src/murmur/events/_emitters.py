"""Event emitters: where events go. An emitter is any object with `async emit(event)`."""

from __future__ import annotations

import asyncio
import importlib.metadata
import itertools
import sys
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TextIO, cast, runtime_checkable

from murmur.events._console import ConsoleLines, event_fields, line_fields
from murmur.events._model import EventType, RuntimeEvent, run_event

__all__ = [
    "DELIVERED",
    "CollectingEventEmitter",
    "EventEmitter",
    "LogEventEmitter",
    "MultiEventEmitter",
    "NullEventEmitter",
    "emit_nowait_of",
    "emit_run_of",
    "emitter_failed",
    "flush_emitter",
    "plugin_emitter",
    "safe_emit",
]


class _Stderr:
    """Writes to whatever `sys.stderr` is at the time (a test's capture, a redirect)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_stderr_logger: Any = None


def _logger() -> Any:
    """The `murmur.events` logger: structlog as the application configured it.

    When the application did not configure it, structlog's defaults printing to stderr (never into
    the program's stdout).
    """
    import structlog

    if structlog.is_configured():
        return structlog.get_logger("murmur.events")
    global _stderr_logger
    if _stderr_logger is None:
        stderr = cast("TextIO", _Stderr())  # duck-typed: write and flush are all it uses
        _stderr_logger = structlog.wrap_logger(structlog.PrintLogger(stderr))
    return _stderr_logger


# A tuple, not a set: membership compares the members (C) instead of calling Enum.__hash__.
_ERROR_TYPES = (
    EventType.AGENT_FAILED,
    EventType.TOOL_CALL_FAILED,
    EventType.BUDGET_EXCEEDED,
    EventType.GROUP_FAILED,
    EventType.TASK_REJECTED,
    EventType.SPAWN_REFUSED,
)


@runtime_checkable
class EventEmitter(Protocol):
    """Anything that accepts runtime events. Implementations must not block for long.

    An emitter whose work is synchronous (a log line, a list, OpenTelemetry's SDK calls) may
    also define `emit_nowait(event)` in the same class as `emit`, with `emit` awaiting
    nothing but it: the runtime then calls `emit_nowait` directly (see `emit_nowait_of`).

    Such an emitter may also take an event about a run (the lifecycle, tool, retry, budget
    and spawn-refusal events the pipeline emits for one run) as its fields, before the
    `RuntimeEvent` is built: `emit_run(event_type, agent_name, task_id, trace_id,
    parent_trace_id, payload) -> bool`, defined in the same class as `emit_nowait`. True
    when it took the event; False when it needs the event, which the runtime then builds and
    passes to `emit_nowait`. A line that shows no event id, or a batch that builds the
    events later, saves the run that work (see `emit_run_of`). `payload` is the event's own
    dict, never changed afterwards: keep it, do not change it.

    An emitter that holds events to deliver them later, in batches, may define a
    synchronous `flush()` that delivers what it holds: the runtime calls it when it closes,
    and a worker when it stops (see `flush_emitter`).
    """

    async def emit(self, event: RuntimeEvent) -> None:
        """Deliver one event."""
        ...


_NOWAIT: dict[type, bool] = {}


def emit_nowait_of(emitter: object) -> Callable[[RuntimeEvent], None] | None:
    """The emitter's synchronous `emit_nowait`, when it stands for its `emit`; else None.

    It does when the class that defines the emitter's `emit` also defines `emit_nowait`. A
    subclass that overrides `emit` alone is awaited as it asks; one that overrides
    `emit_nowait` alone is called through its override either way. `emit_nowait` may be a
    property giving None for an instance that must be awaited (`MultiEventEmitter` holding
    an asynchronous emitter).
    """
    cls = type(emitter)
    usable = _NOWAIT.get(cls)
    if usable is None:
        owner = next((k for k in cls.__mro__ if "emit" in k.__dict__), None)
        usable = owner is not None and "emit_nowait" in owner.__dict__
        if len(_NOWAIT) < 256:
            _NOWAIT[cls] = usable
    if not usable:
        return None
    nowait = getattr(emitter, "emit_nowait")  # noqa: B009
    return cast("Callable[[RuntimeEvent], None] | None", nowait)


class RunEventSink(Protocol):
    """An emitter's `emit_run`: an event about a run from its fields (see `EventEmitter`)."""

    def __call__(
        self,
        event_type: EventType,
        agent_name: str,
        task_id: str,
        trace_id: str,
        parent_trace_id: str | None,
        payload: dict[str, Any],
        /,
    ) -> bool:
        """True when the emitter took the event; False to be given it built."""
        ...


_RUN_SINK: dict[type, bool] = {}


def emit_run_of(emitter: object) -> RunEventSink | None:
    """The emitter's `emit_run`, when it stands for its `emit_nowait`; else None.

    It does when the emitter's `emit_nowait` is called directly (`emit_nowait_of`) and the
    class that defines that `emit_nowait` also defines `emit_run`: a subclass that overrides
    `emit_nowait` alone is given every event built, through its override. Like
    `emit_nowait`, `emit_run` may be a property giving None for an instance.
    """
    cls = type(emitter)
    usable = _RUN_SINK.get(cls)
    if usable is None:
        owner = next((k for k in cls.__mro__ if "emit_nowait" in k.__dict__), None)
        usable = owner is not None and "emit_run" in owner.__dict__
        if len(_RUN_SINK) < 256:
            _RUN_SINK[cls] = usable
    if not usable or emit_nowait_of(emitter) is None:
        return None
    return cast("RunEventSink | None", getattr(emitter, "emit_run"))  # noqa: B009


_EXHAUSTED: Iterator[None] = iter(())


class _Delivered:
    """An awaitable that is already done.

    What delivering an event returns when it was delivered synchronously: no coroutine to
    create and run. Its `__await__` is a C callable returning one shared, exhausted iterator
    (so awaiting it runs no Python frame); a static method's function is called without
    the instance.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        def __await__(self) -> Generator[None, None, None]: ...  # what `await` sees

    else:
        __await__ = staticmethod(itertools.repeat(_EXHAUSTED).__next__)


DELIVERED = _Delivered()
"""Awaiting it returns None at once."""


_console = ConsoleLines()


class LogEventEmitter:
    """Writes every event as a log line: INFO for progress, ERROR for failures.

    Without a `logger`, events go to structlog as the application configured it
    (`structlog.configure(...)`, looked up at each event); when it configured nothing, to
    stderr in structlog's default console format (written without structlog's processor
    chain, which would cost a no-work run about a tenth of its time), so they never mix into
    the program's stdout.

    Args:
        logger: a structlog logger to use instead of `murmur.events`.
        include_payload: add the event's payload fields to each log line.
    """

    def __init__(self, logger: Any = None, *, include_payload: bool = True) -> None:
        self._logger = logger
        self._include_payload = include_payload

    @property
    def _log(self) -> Any:
        return self._logger if self._logger is not None else _logger()

    async def emit(self, event: RuntimeEvent) -> None:
        """Log one event."""
        self.emit_nowait(event)

    def emit_run(
        self,
        event_type: EventType,
        agent_name: str,
        task_id: str,
        trace_id: str,
        parent_trace_id: str | None,
        payload: dict[str, Any],
    ) -> bool:
        """Write the line of an event about a run without the event being built, if it can.

        It can when the line is all that becomes of the event: no `logger` given and
        structlog not configured (the console line shows no event id or time of its own).
        False when the event is needed (then the runtime builds it and calls `emit_nowait`).
        """
        if self._logger is not None:
            return False
        structlog = sys.modules.get("structlog")
        if structlog is not None and structlog.is_configured():
            return False
        _console.write(
            "error" if event_type in _ERROR_TYPES else "info",
            event_type._value_,
            line_fields(
                agent_name, task_id, trace_id, parent_trace_id, payload, self._include_payload
            ),
        )
        return True

    def emit_nowait(self, event: RuntimeEvent) -> None:
        """Log one event (it writes synchronously; the runtime calls this directly)."""
        if self._logger is None:
            # Whether the application configured structlog, without importing it to find out.
            structlog = sys.modules.get("structlog")
            if structlog is None or not structlog.is_configured():
                _console.event(event, self._include_payload, event.event_type in _ERROR_TYPES)
                return
        fields = event_fields(event, self._include_payload)
        if event.event_type in _ERROR_TYPES:
            self._log.error(event.event_type.value, **fields)
        else:
            self._log.info(event.event_type.value, **fields)


class NullEventEmitter:
    """Drops every event (for benchmarks and for users who only want hooks)."""

    async def emit(self, event: RuntimeEvent) -> None:
        """Do nothing."""

    def emit_nowait(self, event: RuntimeEvent) -> None:
        """Do nothing."""


_PENDING: set[asyncio.Task[None]] = set()
"""Deliveries `MultiEventEmitter._later` started, referenced until they finish."""


class MultiEventEmitter:
    """Fans each event out to several emitters.

    The synchronous ones (`emit_nowait`) take it at once, in order; the others are awaited
    concurrently. One failing emitter never stops the others (its exception is logged).

    When every emitter is synchronous, so is this one: the runtime calls its `emit_nowait`
    directly and hands it an event about a run as its fields (`emit_run`), building the
    event once, only when one of them needs it built. Otherwise `emit_nowait` and
    `emit_run` are None and the runtime awaits `emit`.
    """

    def __init__(self, emitters: Iterable[EventEmitter]) -> None:
        self.emitters = tuple(emitters)

    @property
    def emitters(self) -> tuple[EventEmitter, ...]:
        """The emitters each event goes to, in order."""
        return self._emitters

    @emitters.setter
    def emitters(self, emitters: Iterable[EventEmitter]) -> None:
        self._emitters = tuple(emitters)
        # The synchronous emitters, each with its `emit_run` (or None) and `emit_nowait`.
        synchronous: list[
            tuple[EventEmitter, RunEventSink | None, Callable[[RuntimeEvent], None]]
        ] = []
        awaited: list[EventEmitter] = []
        for emitter in self._emitters:
            nowait = emit_nowait_of(emitter)
            if nowait is None:
                awaited.append(emitter)
            else:
                synchronous.append((emitter, emit_run_of(emitter), nowait))
        self._synchronous = tuple(synchronous)
        self._awaited = tuple(awaited)

    @property
    def emit_nowait(self) -> Callable[[RuntimeEvent], None] | None:
        """Deliver an event at once: when every emitter is synchronous; else None."""
        return None if self._awaited else self._deliver_all_now

    @property
    def emit_run(self) -> RunEventSink | None:
        """Take an event about a run as its fields: when every emitter is synchronous."""
        return None if self._awaited else self._run_fields

    async def emit(self, event: RuntimeEvent) -> None:
        """Deliver one event to every emitter."""
        self._deliver_now(event)
        await self._await_all(event)

    async def _await_all(self, event: RuntimeEvent) -> None:
        awaited = self._awaited
        if not awaited:
            return
        if len(awaited) == 1:
            await safe_emit(awaited[0], event)
            return
        await asyncio.gather(*(safe_emit(e, event) for e in awaited))

    def _deliver_now(self, event: RuntimeEvent) -> None:
        """Deliver `event` to the synchronous emitters."""
        for emitter, _, nowait in self._synchronous:
            try:
                nowait(event)
            except Exception as exc:  # one emitter never stops the others
                emitter_failed(emitter, event, exc)

    def _deliver_all_now(self, event: RuntimeEvent) -> None:
        """`emit_nowait`: deliver `event` to every emitter without awaiting."""
        self._deliver_now(event)
        if self._awaited:
            self._later(event)

    def _later(self, event: RuntimeEvent) -> None:
        """Deliver `event` to the asynchronous emitters in a task of its own.

        Only for emitters set after whoever calls `emit_nowait` found this instance
        synchronous (`multi.emitters = ...` on a runtime's emitter): they get every event
        all the same.
        """
        try:
            task = asyncio.get_running_loop().create_task(self._await_all(event))
        except RuntimeError:  # no event loop running in this thread: nothing can await them
            for emitter in self._awaited:
                emitter_failed(emitter, event, RuntimeError("no running event loop"))
            return
        _PENDING.add(task)
        task.add_done_callback(_PENDING.discard)

    def _run_fields(
        self,
        event_type: EventType,
        agent_name: str,
        task_id: str,
        trace_id: str,
        parent_trace_id: str | None,
        payload: dict[str, Any],
        /,
    ) -> bool:
        """Hand an event about a run to every emitter: as fields where it takes them.

        The event is built once, when the first emitter needs it.
        """
        fields = (event_type, agent_name, task_id, trace_id, parent_trace_id, payload)
        event: RuntimeEvent | None = None
        for emitter, sink, nowait in self._synchronous:
            try:
                if sink is not None and sink(*fields):
                    continue
                if event is None:
                    event = run_event(*fields)
                nowait(event)
            except Exception as exc:  # one emitter never stops the others
                if event is None:
                    event = run_event(*fields)
                emitter_failed(emitter, event, exc)
        if self._awaited:
            self._later(event if event is not None else run_event(*fields))
        return True

    def flush(self) -> None:
        """Flush every emitter that holds events (see `flush_emitter`)."""
        for emitter in self._emitters:
            flush_emitter(emitter)


class CollectingEventEmitter:
    """Keeps every event in memory, in order (for tests and small tools)."""

    def __init__(self) -> None:
        self.events: list[RuntimeEvent] = []

    async def emit(self, event: RuntimeEvent) -> None:
        """Append one event."""
        self.events.append(event)

    def emit_nowait(self, event: RuntimeEvent) -> None:
        """Append one event (the runtime calls this directly)."""
        self.events.append(event)

    def of_type(self, *types: EventType) -> list[RuntimeEvent]:
        """The collected events whose type is one of `types`."""
        wanted = set(types)
        return [e for e in self.events if e.event_type in wanted]

    def types(self) -> Sequence[EventType]:
        """The event types in emission order."""
        return [e.event_type for e in self.events]


async def safe_emit(emitter: EventEmitter, event: RuntimeEvent) -> None:
    """Deliver `event` to `emitter`; a failure is logged (`emitter_failed`), never raised."""
    try:
        nowait = emit_nowait_of(emitter)
        if nowait is not None:
            nowait(event)
            return
        await emitter.emit(event)
    except Exception as exc:  # an emitter must never fail a run
        emitter_failed(emitter, event, exc)


def emitter_failed(emitter: EventEmitter, event: RuntimeEvent, exc: Exception) -> None:
    """Log that `emitter` failed to take `event`."""
    _logger().warning(
        "emitter_failed",
        emitter=type(emitter).__name__,
        event_type=event.event_type.value,
        error=repr(exc),
    )


def flush_emitter(emitter: object) -> None:
    """Have `emitter` deliver the events it holds, when it defines `flush()`.

    A failure is logged (`emitter_flush_failed`), never raised: it runs while a runtime closes.
    """
    flush = getattr(emitter, "flush", None)
    if not callable(flush):
        return
    try:
        flush()
    except Exception as exc:  # closing must go on
        _logger().warning("emitter_flush_failed", emitter=type(emitter).__name__, error=repr(exc))


def plugin_emitter(name: str) -> Any:
    """The class an installed `murmur.emitters` entry point names `name`, or None.

    Reads package metadata only; the one matching entry point is imported.
    """
    for entry_point in importlib.metadata.entry_points(group="murmur.emitters"):
        if entry_point.value.rpartition(":")[2].strip() == name:
            return entry_point.load()
    return None

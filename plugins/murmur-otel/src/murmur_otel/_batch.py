"""Events handed to the SDK in batches, off the run's path.

The SDK's work for one event (a span started or ended, a histogram point) costs two to three
times as much CPU interleaved with a run's own work as it does when many events are handled
in a row: the SDK's code and data are no longer in the CPU's caches when the next event of a
run arrives (`benchmarks/otel.py`). So the emitters queue each event here, with what must be
read at the time it happens (where it comes from, the run's execution context, the current
OpenTelemetry context), and one thread per process hands the queue to the SDK when it holds
`max_batch` events or its oldest is `delay_s` old.

Handled at once, in the emitting thread, with everything queued before it: the start of a
run sent to a fleet, whose span id goes into the task envelope. `flush()` hands over every
queued event (the emitters' `flush` / `force_flush` call it), and so does the interpreter's
exit.

An event about a run comes from the kernel as its fields (`emit_run`), with the time it
happened: its `RuntimeEvent` is built here too, when the batch is handed over, not on the
run's path.

One queue per process, as one span index (`SPANS`): a run dispatched from a tool call of
another emitter's run hangs under that tool call's span, which must be started first.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

from murmur.events import EventType, run_event
from murmur_otel._origin import Origin

if TYPE_CHECKING:
    from murmur.events import RuntimeEvent
    from murmur.execution import ExecutionContext

__all__ = [
    "BATCH",
    "BatchFlushing",
    "BatchedEmitter",
    "EventBatch",
    "MetricHandler",
    "RunFields",
    "TraceHandler",
]

TraceHandler = Callable[["RuntimeEvent", "Origin", "ExecutionContext | None"], None]
MetricHandler = Callable[["RuntimeEvent", "ExecutionContext | None"], None]

_LOG = logging.getLogger("murmur.otel")
_DISPATCH = Origin.DISPATCH
_SPAWNED = EventType.AGENT_SPAWNED

RunFields = tuple[EventType, str, str, str, "str | None", dict[str, Any], float]
"""An event about a run before it is built: `run_event`'s arguments, the time last."""

_Item = tuple[
    "TraceHandler | None",
    "MetricHandler | None",
    "RuntimeEvent | RunFields",
    Origin,
    "ExecutionContext | None",
    "otel_context.Context | None",
    Any,
]


def built(queued: RuntimeEvent | RunFields) -> RuntimeEvent:
    """The queued event, built from its fields when it came as fields."""
    return run_event(*queued) if isinstance(queued, tuple) else queued


def handle(item: _Item, event: RuntimeEvent | None = None) -> None:
    """Run a queued event's handlers under the OpenTelemetry context it was emitted in.

    `event` is the item's event already built (`built`); None builds it here.
    """
    on_trace, on_metric, queued, origin, ctx, parent, owner = item
    # Attached only when it holds something (a span of the application's, baggage): a run's
    # span may hang under the application's current span, and metrics sample exemplars from it.
    token = otel_context.attach(parent) if parent else None
    try:
        if event is None:
            event = built(queued)
        if on_trace is not None:
            on_trace(event, origin, ctx)
        if on_metric is not None:
            on_metric(event, ctx)
    except Exception as exc:  # one bad event must not stop the rest of the batch
        _LOG.warning(
            "emitter_failed: %s could not record %s: %r",
            type(owner).__name__,
            _kind(queued).value,
            exc,
        )
    finally:
        if token is not None:
            otel_context.detach(token)


def _kind(event: RuntimeEvent | RunFields) -> EventType:
    return event[0] if isinstance(event, tuple) else event.event_type


class EventBatch:
    """The process's queue of events waiting for the SDK, and the thread that drains it.

    Args:
        max_batch: Hand the queue over as soon as it holds this many events.
        delay_s: Hand the queue over at the latest this long after an event joined an
            empty queue.
        max_queue: When the SDK falls this far behind (a slow exporter behind a
            `SimpleSpanProcessor`, say), the thread that emits hands the queue over itself
            before it goes on, so the queue never grows past it: the run waits for the SDK,
            as it would without the batch, and nothing is dropped.
    """

    def __init__(
        self, *, max_batch: int = 1024, delay_s: float = 0.2, max_queue: int = 16_384
    ) -> None:
        self.max_batch = max_batch
        self.delay_s = delay_s
        self.max_queue = max_queue
        self.cpu_s = 0.0
        """CPU time the handlers of queued events took, in whichever thread handed the queue
        over (not counting events handled at once)."""
        self._queue: deque[_Item] = deque()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, item: _Item) -> None:
        """Queue one event (the drain thread is started on first use)."""
        queue = self._queue
        queue.append(item)
        size = len(queue)
        if size == 1 or size >= self.max_batch:
            if self._thread is None or self._pid != os.getpid():
                self._start()
            self._wake.set()
        if size >= self.max_queue:
            self.flush()

    def submit(
        self,
        on_trace: TraceHandler | None,
        on_metric: MetricHandler | None,
        event: RuntimeEvent | RunFields,
        origin: Origin,
        ctx: ExecutionContext | None,
        owner: object,
        *,
        batched: bool = True,
    ) -> None:
        """Queue `event` (built, or its fields) for its handlers, or handle it now.

        It cannot wait when `batched` is false, or when it starts a run sent to a fleet
        (`JobBackend` puts that span's id into the task envelope).
        """
        item = (on_trace, on_metric, event, origin, ctx, otel_context.get_current(), owner)
        if batched and not (origin is _DISPATCH and _kind(event) is _SPAWNED):
            self.put(item)
        else:
            self.now(item)

    def now(self, item: _Item) -> None:
        """Handle `item` in this thread, after every event queued before it."""
        with self._lock:
            self._drain()
            handle(item)

    def flush(self) -> None:
        """Hand every queued event to the SDK now, in this thread."""
        with self._lock:
            self._drain()

    def forget(self) -> None:
        """Start over in a forked child.

        The drain thread does not exist there, and the queued events are the parent's, which
        the parent hands over.
        """
        self._queue.clear()
        self._thread = None
        self._lock = threading.RLock()

    def _drain(self) -> None:
        queue = self._queue
        if not queue:
            return
        started = time.thread_time()
        popleft = queue.popleft
        while queue:  # only the thread holding the lock takes from the queue
            items = [popleft() for _ in range(len(queue))]
            # First every event built, then each handed to the SDK: the same few calls in a
            # row cost a fraction of what each costs between two events' SDK work.
            try:
                events: list[RuntimeEvent | None] = [built(item[2]) for item in items]
            except Exception:  # each built again under `handle`'s guard, which logs the bad one
                events = [None] * len(items)
            for item, event in zip(items, events, strict=True):
                handle(item, event)
        self.cpu_s += time.thread_time() - started

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            if self._thread is None:
                # Registered at the first event, so after the application's providers: exit
                # handlers run last-registered first, so this runs before their shutdown.
                atexit.register(self.flush)
            self._pid = os.getpid()
            self._wake = threading.Event()
            self._thread = threading.Thread(target=self._run, name="murmur-otel-batch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        wake = self._wake
        queue = self._queue
        while True:
            wake.wait()
            wake.clear()
            woken = time.monotonic()
            while len(queue) < self.max_batch:
                # `delay_s` read on every wake-up: a shorter delay set meanwhile applies now.
                left = woken + self.delay_s - time.monotonic()
                if left <= 0:
                    break
                wake.wait(left)
                wake.clear()
            self.flush()


BATCH = EventBatch()
"""This process's queue."""


class BatchedEmitter:
    """The event-taking methods of an emitter that queues into `BATCH`.

    The subclass's `_submit(kind, trace_id, event, batched=...)` chooses the handlers and
    queues `event`, built or as its fields.
    """

    batch: bool
    """Hand events to the SDK in batches, or each one as it happens."""

    async def emit(self, event: RuntimeEvent) -> None:
        """Record one event."""
        self.emit_nowait(event)

    def emit_nowait(self, event: RuntimeEvent) -> None:
        """Record one event (synchronous: the runtime calls this directly, no coroutine).

        The SDK gets it in a batch (`batch=False`: before this returns).
        """
        self._submit(event.event_type, event.trace_id, event, batched=self.batch)

    def emit_run(
        self,
        event_type: EventType,
        agent_name: str,
        task_id: str,
        trace_id: str,
        parent_trace_id: str | None,
        payload: dict[str, Any],
    ) -> bool:
        """Record an event about a run from its fields (the runtime calls this directly).

        The `RuntimeEvent` is built when the batch is handed to the SDK, with the time it
        happened taken now. Always True: every event about a run is taken.
        """
        fields = (event_type, agent_name, task_id, trace_id, parent_trace_id, payload, time.time())
        self._submit(event_type, trace_id, fields, batched=self.batch)
        return True

    def record(self, event: RuntimeEvent) -> None:
        """Record `event` now, in this thread (after any event still waiting in the batch)."""
        self._submit(event.event_type, event.trace_id, event, batched=False)

    def _submit(
        self,
        kind: EventType,
        trace_id: str | None,
        event: RuntimeEvent | RunFields,
        *,
        batched: bool,
    ) -> None:
        raise NotImplementedError


class BatchFlushing:
    """`flush` / `force_flush` of an emitter that queues into `BATCH` and owns one provider."""

    provider: object
    """The tracer or meter provider the emitter records to."""

    def flush(self) -> None:
        """Hand every event waiting in this process's batch to the SDK now."""
        BATCH.flush()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """`flush()`, then the provider's own `force_flush` (export what it holds)."""
        BATCH.flush()
        return self.flush_provider(timeout_millis)

    def flush_provider(self, timeout_millis: int = 30_000) -> bool:
        """The provider's `force_flush` (True when it has none: the API's no-op)."""
        flush = getattr(self.provider, "force_flush", None)
        return bool(flush(timeout_millis)) if flush is not None else True


os.register_at_fork(after_in_child=BATCH.forget)

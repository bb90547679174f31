"""`WriteBuffer`: the one write buffer persistent stores share (SQLite, Redis, third parties).

A store hands it rows it has already serialised (so a bad value is refused alone, at the
call that brought it, and can never poison a batch) and one coroutine that writes a batch
atomically. The buffer decides when to write:

- run records and checkpoints are written through: `write_run` / `write_checkpoint`
  return once the batch holding them is committed, and raise that batch's error, so a run
  whose record cannot be written fails with the store's typed error and a finished run is
  on disk when `runtime.run` returns (nothing depends on `aclose()`);
- events, and the record of a run that is only starting (`buffer_run`), wait for the next
  batch (by size, `flush_interval` after the first one, or with the next run record,
  checkpoint or read); concurrent writers share one batch.

A batch that fails is reported to every writer waiting on it; its events go back to the
front of the buffer to be retried with the next batch (at most `max_pending_events` are
kept; older ones are dropped, counted in `dropped_events` and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Batch", "WriteBuffer"]

RunRowT = TypeVar("RunRowT")
CheckpointRowT = TypeVar("CheckpointRowT")
EventRowT = TypeVar("EventRowT")


@dataclass(slots=True)
class Batch(Generic[RunRowT, CheckpointRowT, EventRowT]):
    """What one atomic write holds, each kind in the order it was buffered."""

    runs: list[RunRowT] = field(default_factory=list)
    checkpoints: list[CheckpointRowT] = field(default_factory=list)
    events: list[EventRowT] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.runs or self.checkpoints or self.events)


def _log() -> Any:
    import structlog

    return structlog.get_logger("murmur.runs")


class WriteBuffer(Generic[RunRowT, CheckpointRowT, EventRowT]):
    """Buffers a store's writes and commits them in atomic batches.

    Args:
        write: writes one batch atomically (all of it or none), raising a typed error.
        name: the store, for log lines.
        batch_size: buffered events that trigger a write.
        flush_interval: seconds an event may wait before it is written.
        max_pending_events: events kept for retry while the store cannot be written.
    """

    def __init__(
        self,
        write: Callable[[Batch[RunRowT, CheckpointRowT, EventRowT]], Awaitable[None]],
        *,
        name: str,
        batch_size: int,
        flush_interval: float,
        max_pending_events: int = 100_000,
    ) -> None:
        self._write = write
        self.name = name
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_pending_events = max(max_pending_events, batch_size)
        self.dropped_events = 0
        self._runs: dict[Hashable, RunRowT] = {}
        self._checkpoints: dict[Hashable, CheckpointRowT] = {}
        self._events: list[EventRowT] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self.closed = False

    def has_pending(self) -> bool:
        """True when something is buffered."""
        return bool(self._runs or self._checkpoints or self._events)

    def pending_run(self, key: Hashable) -> RunRowT | None:
        """A run row waiting for its batch, or None."""
        return self._runs.get(key)

    async def write_run(self, key: Hashable, row: RunRowT) -> None:
        """Write a run row (replacing a buffered one with the same key); returns once committed.

        Raises the store's error when its batch failed.
        """
        self._runs[key] = row
        await self._commit()

    async def buffer_run(self, key: Hashable, row: RunRowT) -> None:
        """Buffer a run row for the next batch without waiting for it.

        A failed batch drops it: the run's next `write_run` replaces it.
        """
        self._runs[key] = row
        await self._schedule()

    async def write_checkpoint(self, key: Hashable, row: CheckpointRowT) -> None:
        """Write a checkpoint row; returns once committed (like `write_run`)."""
        self._checkpoints[key] = row
        await self._commit()

    async def add_events(self, rows: Sequence[EventRowT]) -> None:
        """Buffer event rows for the next batch (writing now when the buffer is full)."""
        self._events.extend(rows)
        await self._schedule()

    async def _schedule(self) -> None:
        if len(self._events) + len(self._runs) >= self.batch_size:
            await self.flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def _commit(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await self.flush()
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                waiter.exception()  # the same error flush raises: mark it retrieved
            else:
                waiter.cancel()  # cancelled before its batch was written
            raise
        await waiter

    async def _flush_later(self) -> None:
        while self.has_pending() and not self.closed:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception as exc:  # kept for retry; run writes got the error themselves
                _log().error("store_flush_failed", store=self.name, error=str(exc))
                return

    def take(self) -> Batch[RunRowT, CheckpointRowT, EventRowT]:
        """Everything buffered, removed from the buffer (for a store's own exit path)."""
        batch = Batch(list(self._runs.values()), list(self._checkpoints.values()), self._events)
        self._runs, self._checkpoints, self._events = {}, {}, []
        return batch

    async def flush(self) -> None:
        """Write everything buffered in one atomic batch.

        Raises:
            MurmurError: the store's typed error when the batch failed (its run and
                checkpoint writers get it too; its events stay buffered for a retry).
        """
        async with self._lock:
            if not self.has_pending():
                return
            waiters, self._waiters = self._waiters, []
            runs, checkpoints, events = self._runs, self._checkpoints, self._events
            self._runs, self._checkpoints, self._events = {}, {}, []
            batch = Batch(list(runs.values()), list(checkpoints.values()), events)
            try:
                await self._write(batch)
            except Exception as exc:
                self._requeue(events)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                raise
            except BaseException:
                # Cancelled mid-write: whether it landed is unknown, so everything goes
                # back for the next batch (writes are idempotent: upserts, event ids).
                self._runs = {**runs, **self._runs}
                self._checkpoints = {**checkpoints, **self._checkpoints}
                self._events[:0] = events
                self._waiters[:0] = waiters
                raise
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def _requeue(self, events: list[EventRowT]) -> None:
        self._events[:0] = events
        excess = len(self._events) - self.max_pending_events
        if excess > 0:
            del self._events[:excess]
            self.dropped_events += excess
            _log().error(
                "store_events_dropped",
                store=self.name,
                dropped=excess,
                dropped_total=self.dropped_events,
                reason="the store could not be written and the retry buffer is full",
            )

    def reset_for_exit(self) -> None:
        """Forget loop-bound state so a new event loop can flush (interpreter exit)."""
        self._lock = asyncio.Lock()
        self._timer = None
        self._waiters = []

    async def aclose(self) -> None:
        """Write what is buffered and stop the timer. Safe to call twice."""
        try:
            await self.flush()
        finally:
            self.closed = True
            if self._timer is not None and not self._timer.done():
                self._timer.cancel()
                with contextlib.suppress(BaseException):
                    await self._timer

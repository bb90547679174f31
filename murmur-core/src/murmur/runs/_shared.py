"""`SharedStoreClient`: the connection a run store and an event store share, written in batches.

A persistent store is usually two objects (`RunStore`, `EventStore`) over one database
file or server connection. This base owns everything about that shared handle that is not
the database's business:

- use counting: each store `acquire`s it; `release` flushes, and the last one closes it;
- opening it once, on first use, under a lock (`connection()`), and refusing after close
  with `store_closed`;
- the `WriteBuffer` (run records and checkpoints written through, events batched; see
  `murmur.runs.WriteBuffer`), fed with rows serialised at the call that brought them, so a
  bad value is refused alone with `not_json`;
- an interpreter-exit hook that writes what a never-closed client still buffers, and says
  so on stderr when it cannot.

A store supplies its rows, its connect / disconnect, the atomic write of one `Batch`, and
how to write at exit (`flush_at_exit`, called with no event loop running).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import sys
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, Self, TypeVar

from murmur.core.errors import RegistryError
from murmur.events._model import RuntimeEvent
from murmur.runs._base import RunRecord
from murmur.runs._buffer import Batch, WriteBuffer

__all__ = ["SharedRunStoreUser", "SharedStoreClient", "SharedStoreUser"]

ConnT = TypeVar("ConnT")
RunRowT = TypeVar("RunRowT")
CheckpointRowT = TypeVar("CheckpointRowT")
EventRowT = TypeVar("EventRowT")


class SharedStoreClient(ABC, Generic[ConnT, RunRowT, CheckpointRowT, EventRowT]):
    """One connection and write buffer shared by a store's run store and event store.

    Subclasses implement `_connect`, `_disconnect`, `write_batch`, `run_row`,
    `event_row`, `checkpoint_row`, `record_json` and `flush_at_exit`.

    Args:
        name: the store, for log lines and messages (e.g. `"sqlite:/var/runs.db"`).
        batch_size: buffered writes that trigger a batch.
        flush_interval: seconds a buffered write may wait before its batch.
        timeout: seconds any one operation may take (closing included).
        max_pending_events: events kept for retry while the store cannot be written.
    """

    def __init__(
        self,
        *,
        name: str,
        batch_size: int,
        flush_interval: float,
        timeout: float,
        max_pending_events: int = 100_000,
    ) -> None:
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self._conn: ConnT | None = None
        self._open_lock = asyncio.Lock()
        self._buffer: WriteBuffer[RunRowT, CheckpointRowT, EventRowT] = WriteBuffer(
            self.write_batch,
            name=name,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_pending_events=max_pending_events,
        )
        self._users = 0
        self._closed = False
        self._exit_hook = functools.partial(_flush_at_exit, weakref.ref(self))

    # -- what a store supplies ----------------------------------------------------------

    @abstractmethod
    async def _connect(self) -> ConnT:
        """Open the connection (once; `connection()` holds the lock)."""

    @abstractmethod
    async def _disconnect(self, conn: ConnT) -> None:
        """Close the connection (errors are ignored: the client is closing anyway)."""

    @abstractmethod
    async def write_batch(self, batch: Batch[RunRowT, CheckpointRowT, EventRowT]) -> None:
        """Write one batch atomically (all of it or none), raising a typed error."""

    @abstractmethod
    def run_row(self, record: RunRecord) -> RunRowT:
        """The row of a run record (serialise it now; raise `not_json` if it cannot be)."""

    @abstractmethod
    def event_row(self, event: RuntimeEvent) -> EventRowT:
        """The row of an event (serialise it now; raise `not_json` if it cannot be)."""

    @abstractmethod
    def checkpoint_row(self, run_id: str, key: str, value_json: str) -> CheckpointRowT:
        """The row of a checkpoint."""

    @abstractmethod
    def record_json(self, row: RunRowT) -> str:
        """The run record JSON a run row holds (for reads of a run still buffered)."""

    @abstractmethod
    def flush_at_exit(self) -> None:
        """Write what is buffered at interpreter exit (no event loop is running).

        Raises:
            Exception: anything; the exit hook prints it to stderr.
        """

    # -- use counting and lifecycle -----------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once `aclose` ran."""
        return self._closed

    @property
    def connected(self) -> bool:
        """True while the connection is open."""
        return self._conn is not None

    def acquire(self) -> None:
        """Count one more store using this client (it closes when the last releases)."""
        self._users += 1

    async def release(self) -> None:
        """One store is done with the client: flush, and close it if it was the last."""
        self._users -= 1
        if self._users <= 0:
            await self.aclose()
        elif self._conn is not None:
            await self.flush()

    async def connection(self) -> ConnT:
        """The open connection, opened on first use.

        Raises:
            RegistryError: code `"store_closed"` after `aclose`, or the store's error for a
                connection it cannot open.
        """
        if self._conn is not None:
            return self._conn
        if self._closed:
            raise RegistryError(
                f"the store {self!r} is closed; open a new one", code="store_closed"
            )
        async with self._open_lock:
            if self._conn is None:
                self._conn = await self._connect()
        return self._conn

    def register_exit_hook(self) -> None:
        """Write what is still buffered at interpreter exit if nobody closes this client.

        Call it once the connection is open.
        """
        atexit.register(self._exit_hook)

    def reset_for_exit(self) -> None:
        """Forget state bound to the program's event loop, so a new loop can flush."""
        self._buffer.reset_for_exit()
        self._open_lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Flush buffered writes and close the connection. Safe to call twice.

        Raises:
            RegistryError: the last batch could not be written (the client closes anyway).
        """
        if self._closed:
            return
        try:
            if self._conn is not None or self._buffer.has_pending():
                await self._buffer.aclose()
        finally:
            self._closed = True
            self._buffer.closed = True
            atexit.unregister(self._exit_hook)
            conn, self._conn = self._conn, None
            if conn is not None:
                await self._disconnect(conn)

    # -- buffered writes ----------------------------------------------------------------

    async def add_run(self, record: RunRecord) -> None:
        """Write a run upsert; it is committed when this returns.

        Raises:
            RegistryError: `"not_json"` (nothing written), or the store's error for the
                batch that held it.
        """
        row = self.run_row(record)
        await self.connection()
        await self._buffer.write_run(record.run_id, row)

    async def buffer_run(self, record: RunRecord) -> None:
        """Buffer a run upsert for the next batch (a starting run's record).

        Raises:
            RegistryError: `"not_json"`, or the store cannot be opened.
        """
        row = self.run_row(record)
        await self.connection()
        await self._buffer.buffer_run(record.run_id, row)

    async def add_events(self, events: Sequence[RuntimeEvent]) -> None:
        """Buffer events in order for the next batch.

        Raises:
            RegistryError: code `"not_json"` for an event that cannot be stored; the other
                events of the call are buffered, the store goes on.
        """
        rows: list[EventRowT] = []
        bad: RegistryError | None = None
        for event in events:
            try:
                rows.append(self.event_row(event))
            except RegistryError as exc:
                bad = bad or exc
        await self.connection()
        if rows:
            await self._buffer.add_events(rows)
        if bad is not None:
            raise bad

    async def add_checkpoint(self, run_id: str, key: str, value_json: str) -> None:
        """Write a checkpoint (with everything buffered before it) and wait for it."""
        await self.connection()
        await self._buffer.write_checkpoint(
            (run_id, key), self.checkpoint_row(run_id, key, value_json)
        )

    def pending_run(self, run_id: str) -> RunRecord | None:
        """A run upsert waiting for its batch, or None."""
        row = self._buffer.pending_run(run_id)
        return None if row is None else RunRecord.model_validate_json(self.record_json(row))

    def has_pending(self) -> bool:
        """True when something is buffered."""
        return self._buffer.has_pending()

    @property
    def dropped_events(self) -> int:
        """Events dropped because the store could not be written for too long."""
        return self._buffer.dropped_events

    async def flush(self) -> None:
        """Write everything buffered in one batch.

        Raises:
            RegistryError: the batch failed (its events stay buffered for a retry).
        """
        if self._conn is None and not self._buffer.has_pending():
            return
        await self._buffer.flush()

    def take_buffered(self) -> Batch[RunRowT, CheckpointRowT, EventRowT]:
        """Everything buffered, removed from the buffer (for a synchronous exit write)."""
        return self._buffer.take()


class SharedStoreUser:
    """Mixin for a store built on a `SharedStoreClient`.

    The store counts as one use of the client from construction until `aclose`.
    """

    def _use(self, client: SharedStoreClient[Any, Any, Any, Any]) -> None:
        client.acquire()
        self._shared: SharedStoreClient[Any, Any, Any, Any] = client
        self._released = False

    async def __aenter__(self) -> Self:
        await self._shared.connection()
        return self

    async def flush(self) -> None:
        """Write buffered writes now."""
        await self._shared.flush()

    async def aclose(self) -> None:
        """Flush and release the client (closed with its last store). Safe to call twice."""
        if not self._released:
            self._released = True
            await self._shared.release()


class SharedRunStoreUser(SharedStoreUser):
    """Mixin for a `RunStore` built on a `SharedStoreClient`.

    Its writes go through the client's buffer; reads are the store's own (start them with
    `pending_run`, for a run still buffered).
    """

    async def put(self, record: RunRecord) -> None:
        """Insert or replace a run; it is committed when this returns.

        Raises:
            RegistryError: `"not_json"`, or the store's error when it cannot be written.
        """
        await self._shared.add_run(record)

    async def put_soon(self, record: RunRecord) -> None:
        """Buffer a starting run's record for the next batch.

        This process reads it at once.
        """
        await self._shared.buffer_run(record)

    def pending_run(self, run_id: str) -> RunRecord | None:
        """The record of `run_id` while it waits in the buffer, or None."""
        return self._shared.pending_run(run_id)


def _flush_at_exit(ref: Callable[[], SharedStoreClient[Any, Any, Any, Any] | None]) -> None:
    """At interpreter exit, write what a never-closed client still buffers."""
    client = ref()
    if client is None or client.closed or not client.has_pending():
        return
    try:
        client.flush_at_exit()
    except Exception as exc:  # nothing left to raise to: say it loudly
        print(
            f"murmur: could not write the store writes buffered for {client!r} at exit "
            f"(close the runtime or store): {exc}",
            file=sys.stderr,
        )

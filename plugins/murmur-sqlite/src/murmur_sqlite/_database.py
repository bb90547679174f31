"""`SQLiteDatabase`: one aiosqlite connection shared by a run store and an event store.

Writes go through murmur's `WriteBuffer`: run records and checkpoints are committed before
`put` / `put_checkpoint` return (concurrent writers share one transaction), events are
written in the next transaction (by size, `flush_interval` seconds after the first one,
with the next run record, before any read, on close). Every row is serialised when it is
handed in, so a bad value is refused alone with `not_json`. Whatever a never-closed
database still buffers when the interpreter exits is written by an exit hook on the same
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from murmur.core.errors import MurmurError, RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import Batch, RunRecord, SharedStoreClient, encode_event, encode_record
from murmur_sqlite._schema import check_file, corrupt_error, migrate, read_schema_version

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["SQLiteDatabase"]

T = TypeVar("T")

_UPSERT_RUN = """
INSERT INTO runs (run_id, kind, agent_name, parent_trace_id, status, created_at, updated_at, record)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id) DO UPDATE SET
    kind = excluded.kind, agent_name = excluded.agent_name,
    parent_trace_id = excluded.parent_trace_id, status = excluded.status,
    created_at = excluded.created_at, updated_at = excluded.updated_at, record = excluded.record
"""
_INSERT_EVENT = """
INSERT OR IGNORE INTO events
    (id, event_type, agent_name, task_id, trace_id, parent_trace_id, timestamp, body)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
_UPSERT_CHECKPOINT = """
INSERT INTO checkpoints (run_id, key, value, updated_at) VALUES (?, ?, ?, ?)
ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""

RunRow = tuple[str, str, str | None, str | None, str, float, float, str]


def run_row(record: RunRecord) -> RunRow:
    """The `runs` row for a record (serialised now, so later mutation cannot leak in)."""
    return (
        record.run_id,
        record.kind,
        record.agent_name,
        record.parent_trace_id,
        record.status.value,
        record.created_at,
        record.updated_at,
        encode_record(record),
    )


EventRow = tuple[str, str, str | None, str | None, str | None, str | None, float, str]
CheckpointRow = tuple[str, str, str, float]


def event_row(e: RuntimeEvent) -> EventRow:
    """The `events` row for an event (serialised and checked now).

    Raises:
        RegistryError: code `"not_json"`.
    """
    body = encode_event(e)
    return (
        e.id,
        e.event_type.value,
        e.agent_name,
        e.task_id,
        e.trace_id,
        e.parent_trace_id,
        e.timestamp,
        body,
    )


class SQLiteDatabase(SharedStoreClient["aiosqlite.Connection", RunRow, CheckpointRow, EventRow]):
    """A SQLite file opened lazily, migrated to the current schema, written in batches.

    Use counting, the write buffer and the exit hook are murmur's `SharedStoreClient`; this
    class supplies the file's connection and one transaction per batch.

    Args:
        path: the database file (created with its directory when missing), or `":memory:"`.
        batch_size: buffered writes that trigger a flush.
        flush_interval: seconds a buffered write may wait before it is flushed.
        timeout: seconds any one database operation may take.
        busy_timeout: seconds to wait for another process's write lock.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        batch_size: int = 1000,
        flush_interval: float = 0.05,
        timeout: float = 30.0,
        busy_timeout: float = 10.0,
    ) -> None:
        if batch_size < 1 or flush_interval < 0 or timeout <= 0 or busy_timeout < 0:
            raise RegistryError(
                "SQLite store options: batch_size must be >= 1, flush_interval >= 0, "
                "timeout > 0 and busy_timeout >= 0",
                code="invalid_options",
            )
        raw = os.fspath(path)
        self.path = raw if raw == ":memory:" else os.path.abspath(os.path.expanduser(raw))
        self.busy_timeout = busy_timeout
        super().__init__(
            name=f"sqlite:{self.path}",
            batch_size=batch_size,
            flush_interval=flush_interval,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"SQLiteDatabase({self.path!r})"

    # -- rows ---------------------------------------------------------------------------

    def run_row(self, record: RunRecord) -> RunRow:
        """The `runs` row for a record."""
        return run_row(record)

    def event_row(self, event: RuntimeEvent) -> EventRow:
        """The `events` row for an event."""
        return event_row(event)

    def checkpoint_row(self, run_id: str, key: str, value_json: str) -> CheckpointRow:
        """The `checkpoints` row."""
        return (run_id, key, value_json, time.time())

    def record_json(self, row: RunRow) -> str:
        """The record JSON of a `runs` row."""
        return row[7]

    # -- the connection -----------------------------------------------------------------

    async def open(self) -> None:
        """Open and migrate the file now (done on first use otherwise).

        Raises:
            RegistryError: code `"store_corrupt"`, `"store_schema_newer"`,
                `"store_foreign"`, `"store_timeout"` or `"store_unavailable"`.
        """
        await self.connection()

    async def _connect(self) -> aiosqlite.Connection:
        # Two processes creating one file at once can see SQLITE_BUSY where SQLite calls no
        # busy handler (switching to WAL, reading a schema being written): retry the whole
        # open within busy_timeout instead of failing the run.
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                conn = await self._open_file()
                break
            except RegistryError as exc:
                if exc.code != "store_busy" or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
        if self.path != ":memory:":
            self.register_exit_hook()
        return conn

    async def _open_file(self) -> aiosqlite.Connection:
        import aiosqlite

        if self.path != ":memory:":
            check_file(self.path)
            try:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
            except OSError as exc:
                raise _unavailable(self.path, exc) from exc
        conn: aiosqlite.Connection | None = None
        try:
            async with self.guard("open"):
                conn = aiosqlite.connect(
                    self.path,
                    isolation_level=None,
                    timeout=self.busy_timeout,
                    check_same_thread=False,
                )
                # A forgotten aclose() must not keep the interpreter alive at exit: the
                # worker thread is a daemon, and an atexit hook writes what is buffered.
                thread = getattr(conn, "_thread", None)
                if thread is not None:
                    thread.daemon = True
                await conn
                await read_schema_version(conn, self.path)  # before anything writes to the file
                await conn.execute("PRAGMA journal_mode = WAL")
                await conn.execute("PRAGMA synchronous = NORMAL")
                await migrate(conn, self.path)
        except BaseException:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
            raise
        return conn

    async def _disconnect(self, conn: aiosqlite.Connection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), self.timeout)

    @contextlib.asynccontextmanager
    async def guard(self, action: str) -> AsyncGenerator[None, None]:
        """Bound an operation by `timeout` and turn sqlite3 errors into `RegistryError`s."""
        try:
            async with asyncio.timeout(self.timeout):
                yield
        except MurmurError:
            raise
        except TimeoutError as exc:
            raise RegistryError(
                f"the SQLite store {self.path!r} did not finish {action} within "
                f"{self.timeout}s; another process may hold a long write lock "
                "(raise ?timeout= in the store URL)",
                code="store_timeout",
                details={"path": self.path, "action": action},
            ) from exc
        except sqlite3.Error as exc:
            raise _map_error(self.path, action, exc) from exc
        except (OSError, ValueError) as exc:
            raise _unavailable(self.path, exc) from exc

    # -- writes -------------------------------------------------------------------------

    async def write_batch(self, batch: Batch[RunRow, CheckpointRow, EventRow]) -> None:
        """Write one batch in one transaction."""
        conn = await self.connection()
        async with self.guard("a batched write"):
            # The whole transaction is one call on the connection's thread: the write lock
            # is held for the writes only (never across event-loop turns, which a busy
            # machine stretches), and a cancelled caller cannot leave it open.
            await _on_thread(conn, _write_transaction, conn._conn, batch)

    def flush_at_exit(self) -> None:
        """Write what is still buffered through a new blocking connection, at interpreter exit.

        The program's event loop is gone, and the aiosqlite thread that served it may be dying
        (it raises when it answers a request on the closed loop), so nothing here waits on it.
        Writes are idempotent (upserts, event ids), so a batch the old thread was committing
        when the loop closed does no harm when written again.

        Raises:
            RegistryError: the batch could not be written (the exit hook prints it).
        """
        if self.closed or not self.has_pending():
            return
        batch = self.take_buffered()
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            try:
                _write_transaction(conn, batch)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise _map_error(self.path, "the exit write", exc) from exc

    # -- reads --------------------------------------------------------------------------

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read, after writing this process's buffered writes."""
        conn = await self.connection()
        # Always go through flush: it takes the buffer's lock, so a read never runs while
        # another task's transaction has taken rows out of the buffer but not committed them.
        await self.flush()
        async with self.guard("a read"):
            rows = await _on_thread(conn, conn._execute_fetchall, sql, params)
        return [tuple(row) for row in rows]


async def _on_thread(conn: aiosqlite.Connection, function: Callable[..., T], *args: Any) -> T:
    """Run `function(*args)` on the connection's thread; when cancelled, wait for it to end.

    aiosqlite's thread answers on the event loop that asked. A caller cancelled mid-operation
    (a timeout, or `asyncio.run` cancelling a background flush as the program ends) would
    otherwise return at once, the loop could close, and the thread would die raising
    "Event loop is closed" when it answers. The operation's future is a plain future, not a
    task, so nothing cancels it; waiting for it also means a cancelled write has ended
    (committed or rolled back) before the cancellation goes on (writes are idempotent, so
    re-buffering it is harmless).

    Raises:
        ValueError: the connection is closed (as aiosqlite says it).
    """
    if not conn._running or not conn._connection:
        raise ValueError("Connection closed")
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    conn._tx.put_nowait((future, functools.partial(function, *args)))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        raise


def _write_transaction(
    conn: sqlite3.Connection, batch: Batch[RunRow, CheckpointRow, EventRow]
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if batch.runs:
            conn.executemany(_UPSERT_RUN, batch.runs)
        if batch.events:
            conn.executemany(_INSERT_EVENT, batch.events)
        if batch.checkpoints:
            conn.executemany(_UPSERT_CHECKPOINT, batch.checkpoints)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _map_error(path: str, action: str, exc: sqlite3.Error) -> RegistryError:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if (
        name in ("SQLITE_NOTADB", "SQLITE_CORRUPT")
        or "not a database" in text
        or ("malformed" in text)
    ):
        return corrupt_error(path, text)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return RegistryError(
            f"the SQLite store {path!r} stayed locked by another writer during {action} "
            f"({text}); retry, or raise ?busy_timeout= in the store URL",
            code="store_busy",
            details={"path": path, "action": action},
        )
    return RegistryError(
        f"the SQLite store {path!r} failed during {action}: {type(exc).__name__}: {text}",
        code="store_error",
        details={"path": path, "action": action, "sqlite_error": name},
    )


def _unavailable(path: str, exc: BaseException) -> RegistryError:
    return RegistryError(
        f"cannot open the SQLite store {path!r}: {exc}; check the path and its permissions",
        code="store_unavailable",
        details={"path": path},
    )

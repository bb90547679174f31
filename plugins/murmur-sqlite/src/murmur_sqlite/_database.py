"""`SQLiteDatabase`: one aiosqlite connection shared by a run store and an event store.

Writes are batched: `put` and `append` land in an in-process buffer that one transaction
writes out when it holds `batch_size` items, `flush_interval` seconds after the first
buffered item, before any read, on `put_checkpoint`, and on close. A read therefore always
sees every earlier write of this process; another process sees them once they are flushed
(within `flush_interval`). Checkpoints are written through at once.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import sqlite3
import sys
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from murmur.core.errors import MurmurError, RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import RunRecord
from murmur_sqlite._schema import check_file, corrupt_error, migrate, read_schema_version

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["SQLiteDatabase"]

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
        record.model_dump_json(),
    )


def _event_rows(events: Iterable[RuntimeEvent]) -> Iterable[tuple[Any, ...]]:
    # Consumed by executemany on the connection's thread: serialisation leaves the loop.
    for e in events:
        yield (
            e.id,
            e.event_type.value,
            e.agent_name,
            e.task_id,
            e.trace_id,
            e.parent_trace_id,
            e.timestamp,
            e.to_json(),
        )


class SQLiteDatabase:
    """A SQLite file opened lazily, migrated to the current schema, written in batches.

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
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._open_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._events: list[RuntimeEvent] = []
        self._runs: dict[str, RunRow] = {}
        self._checkpoints: dict[tuple[str, str], tuple[str, str, str, float]] = {}
        self._timer: asyncio.Task[None] | None = None
        self._users = 0
        self._closed = False
        self._exit_hook = functools.partial(_flush_at_exit, weakref.ref(self))

    def __repr__(self) -> str:
        return f"SQLiteDatabase({self.path!r})"

    # -- lifecycle ----------------------------------------------------------------------

    def acquire(self) -> None:
        """Count one more store using this database (it closes when the last releases)."""
        self._users += 1

    async def release(self) -> None:
        """One store is done with the database: flush, and close it if it was the last."""
        self._users -= 1
        if self._users <= 0:
            await self.aclose()
        elif self._conn is not None:
            await self.flush()

    async def open(self) -> None:
        """Open and migrate the file now (done on first use otherwise).

        Raises:
            RegistryError: code `"store_corrupt"`, `"store_schema_newer"`,
                `"store_foreign"`, `"store_timeout"` or `"store_unavailable"`.
        """
        await self._connection()

    async def aclose(self) -> None:
        """Flush buffered writes and close the connection. Safe to call twice."""
        if self._closed:
            return
        try:
            if self._conn is not None:
                await self.flush()
        finally:
            self._closed = True
            atexit.unregister(self._exit_hook)
            if self._timer is not None and not self._timer.done():
                self._timer.cancel()
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), self.timeout)

    async def _connection(self) -> aiosqlite.Connection:
        if self._conn is not None:
            return self._conn
        if self._closed:
            raise RegistryError(
                f"the SQLite store {self.path!r} is closed; open a new one",
                code="store_closed",
            )
        async with self._open_lock:
            if self._conn is None:
                self._conn = await self._connect()
        return self._conn

    async def _connect(self) -> aiosqlite.Connection:
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
                conn = aiosqlite.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
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
        if self.path != ":memory:":
            atexit.register(self._exit_hook)
        return conn

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

    async def add_events(self, events: Sequence[RuntimeEvent]) -> None:
        """Buffer events for the next flush (flushing now when the buffer is full)."""
        await self._connection()
        self._events.extend(events)
        await self._after_write()

    async def add_run(self, record: RunRecord) -> None:
        """Buffer a run upsert for the next flush."""
        await self._connection()
        self._runs[record.run_id] = run_row(record)
        await self._after_write()

    async def add_checkpoint(self, run_id: str, key: str, value_json: str) -> None:
        """Write a checkpoint (with everything buffered before it) and wait for it."""
        await self._connection()
        self._checkpoints[(run_id, key)] = (run_id, key, value_json, time.time())
        await self.flush()

    def pending_run(self, run_id: str) -> RunRecord | None:
        """A run upsert still in the buffer, or None."""
        row = self._runs.get(run_id)
        return None if row is None else RunRecord.model_validate_json(row[7])

    async def _after_write(self) -> None:
        if len(self._events) + len(self._runs) >= self.batch_size:
            await self.flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        while self._has_pending() and not self._closed:
            await asyncio.sleep(self.flush_interval)
            try:
                await self.flush()
            except Exception as exc:  # kept buffered; the next read or write raises it
                import structlog

                structlog.get_logger("murmur.sqlite").error(
                    "sqlite_flush_failed", path=self.path, error=str(exc)
                )
                return

    def _has_pending(self) -> bool:
        return bool(self._events or self._runs or self._checkpoints)

    async def flush(self) -> None:
        """Write every buffered run, event and checkpoint in one transaction.

        On failure the writes stay buffered (nothing is dropped) and the error is raised.
        """
        async with self._write_lock:
            if not self._has_pending():
                return
            conn = await self._connection()
            runs, self._runs = self._runs, {}
            events, self._events = self._events, []
            checkpoints, self._checkpoints = self._checkpoints, {}
            try:
                async with self.guard("a batched write"):
                    await conn.execute("BEGIN IMMEDIATE")
                    try:
                        if runs:
                            await conn.executemany(_UPSERT_RUN, list(runs.values()))
                        if events:
                            await conn.executemany(_INSERT_EVENT, _event_rows(events))
                        if checkpoints:
                            await conn.executemany(_UPSERT_CHECKPOINT, list(checkpoints.values()))
                        await conn.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(Exception):
                            await conn.execute("ROLLBACK")
                        raise
            except BaseException:
                self._events[:0] = events
                self._runs = {**runs, **self._runs}
                self._checkpoints = {**checkpoints, **self._checkpoints}
                raise

    # -- reads --------------------------------------------------------------------------

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read, after flushing this process's buffered writes."""
        conn = await self._connection()
        # Always go through flush: it takes the write lock, so a read never runs while another
        # task's flush has taken runs out of the buffer but not yet committed them.
        await self.flush()
        async with self.guard("a read"):
            rows = await conn.execute_fetchall(sql, params)
        return [tuple(row) for row in rows]


def _flush_at_exit(ref: Callable[[], SQLiteDatabase | None]) -> None:
    """At interpreter exit, write what a never-closed database still buffers (the event
    loop is gone, so with the stdlib driver)."""
    db = ref()
    if db is None or db._closed or not db._has_pending():
        return
    try:
        conn = sqlite3.connect(db.path, timeout=db.busy_timeout, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_UPSERT_RUN, list(db._runs.values()))
            conn.executemany(_INSERT_EVENT, _event_rows(db._events))
            conn.executemany(_UPSERT_CHECKPOINT, list(db._checkpoints.values()))
            conn.execute("COMMIT")
        finally:
            conn.close()
    except Exception as exc:  # nothing left to raise to: say it loudly
        print(
            f"murmur-sqlite: could not write {len(db._events)} events and {len(db._runs)} "
            f"runs buffered for {db.path!r} at exit (close the runtime or store): {exc}",
            file=sys.stderr,
        )


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

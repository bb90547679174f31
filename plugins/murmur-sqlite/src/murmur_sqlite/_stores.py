"""`SQLiteRunStore`, `SQLiteEventStore` and the `sqlite://` store URL."""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Sequence
from typing import Any

from murmur.core.errors import RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import (
    EventQuery,
    EventStore,
    RunRecord,
    RunStatus,
    RunStore,
    SharedRunStoreUser,
    SharedStoreUser,
    Stores,
    parse_store_url,
)
from murmur_sqlite._database import SQLiteDatabase

__all__ = [
    "SQLiteEventStore",
    "SQLiteRunStore",
    "parse_sqlite_url",
    "sqlite_store_factory",
]

_OPTIONS: dict[str, type] = {
    "batch_size": int,
    "flush_interval": float,
    "timeout": float,
    "busy_timeout": float,
}


def parse_sqlite_url(url: str) -> tuple[str, dict[str, Any]]:
    """The file path and options of a `sqlite://` URL.

    `sqlite:///runs.db` is `runs.db` relative to the working directory,
    `sqlite:////var/lib/murmur/runs.db` is absolute, `sqlite:///:memory:` is in memory;
    `?batch_size=`, `?flush_interval=`, `?timeout=` and `?busy_timeout=` set options.

    Raises:
        RegistryError: code `"invalid_url"` for another scheme, no path, or a bad option.
    """
    parsed = parse_store_url(url, _OPTIONS, schemes=("sqlite",))
    path = parsed.path(
        names="file", example="sqlite:///runs.db (relative) or sqlite:////absolute/path/runs.db"
    )
    return path, parsed.options


def sqlite_store_factory(url: str) -> Stores:
    """Entry point `murmur.stores:sqlite`: run and event stores sharing one file.

    The file is checked now (a corrupt or newer file fails here) and opened on first use.

    Raises:
        RegistryError: a bad URL (`"invalid_url"`), or a file that is corrupt
            (`"store_corrupt"`) or from a newer schema (`"store_schema_newer"`).
    """
    path, options = parse_sqlite_url(url)
    database = SQLiteDatabase(path, **options)
    if database.path != ":memory:":
        from murmur_sqlite._schema import check_file

        check_file(database.path)
    return Stores(runs=SQLiteRunStore(database), events=SQLiteEventStore(database))


class _UsesDatabase(SharedStoreUser):
    """A store built on a path owns its database; one built on a `SQLiteDatabase` shares it.

    When shared, the last store closed closes it.
    """

    def __init__(self, database: SQLiteDatabase | str | os.PathLike[str], **options: Any) -> None:
        if isinstance(database, SQLiteDatabase):
            if options:
                raise RegistryError(
                    "pass options to SQLiteDatabase, not to a store built on one",
                    code="invalid_options",
                )
            self.database = database
        else:
            self.database = SQLiteDatabase(database, **options)
        self._use(self.database)

    async def open(self) -> None:
        """Open and migrate the file now instead of on first use."""
        await self.database.open()


class SQLiteRunStore(SharedRunStoreUser, _UsesDatabase, RunStore):
    """Runs and checkpoints in a SQLite file.

    Args:
        database: a file path, or a `SQLiteDatabase` shared with an event store.
        **options: `SQLiteDatabase` options when `database` is a path.
    """

    async def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        pending = self.pending_run(run_id)
        if pending is not None:
            return pending
        rows = await self.database.fetchall("SELECT record FROM runs WHERE run_id = ?", (run_id,))
        return RunRecord.model_validate_json(rows[0][0]) if rows else None

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        agent_name: str | None = None,
        parent_trace_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord]:
        """Runs matching every given filter, newest first."""
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        for column, value in (
            ("status", None if status is None else RunStatus(status).value),
            ("agent_name", agent_name),
            ("parent_trace_id", parent_trace_id),
            ("kind", kind),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = await self.database.fetchall(
            f"SELECT record FROM runs {where} ORDER BY created_at DESC, rowid DESC "
            "LIMIT ? OFFSET ?",
            (*params, max(limit, 0), max(offset, 0)),
        )
        return [RunRecord.model_validate_json(row[0]) for row in rows]

    async def put_checkpoint(self, run_id: str, key: str, value: Any) -> None:
        """Save one checkpoint; it is on disk when this returns.

        Raises:
            RegistryError: code `"not_json"` when `value` cannot be stored as JSON.
        """
        await self.database.add_checkpoint(run_id, key, _to_json(value))

    async def checkpoints(self, run_id: str) -> dict[str, Any]:
        """Every checkpoint of `run_id`, by key."""
        rows = await self.database.fetchall(
            "SELECT key, value FROM checkpoints WHERE run_id = ?", (run_id,)
        )
        return {key: json.loads(value) for key, value in rows}


class SQLiteEventStore(_UsesDatabase, EventStore):
    """Events in a SQLite file, appended in batches.

    Indexed by trace, parent, agent, type and time.

    Args:
        database: a file path, or a `SQLiteDatabase` shared with a run store.
        **options: `SQLiteDatabase` options when `database` is a path.
    """

    async def append(self, event: RuntimeEvent) -> None:
        """Store one event (buffered; every later query sees it).

        Raises:
            RegistryError: `"not_json"` for an event that cannot be stored.
        """
        await self.database.add_events((event,))

    async def append_many(self, events: Sequence[RuntimeEvent]) -> None:
        """Store several events in order, in one batch."""
        if events:
            await self.database.add_events(events)

    async def query(self, query: EventQuery | None = None) -> list[RuntimeEvent]:
        """Events matching `query` in append order; `after_id` resumes after that event."""
        q = query or EventQuery()
        clauses: list[str] = []
        params: list[Any] = []
        if q.trace_id is not None:
            clauses.append("trace_id = ?")
            params.append(q.trace_id)
        if q.trace_ids is not None:
            clauses.append("trace_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(q.trace_ids)))
        if q.agent_name is not None:
            clauses.append("agent_name = ?")
            params.append(q.agent_name)
        if q.event_types is not None:
            clauses.append("event_type IN (SELECT value FROM json_each(?))")
            params.append(json.dumps([str(t) for t in q.event_types]))
        if q.since is not None:
            clauses.append("timestamp >= ?")
            params.append(q.since)
        if q.until is not None:
            clauses.append("timestamp <= ?")
            params.append(q.until)
        if q.after_id is not None:
            clauses.append("seq > COALESCE((SELECT seq FROM events WHERE id = ?), 0)")
            params.append(q.after_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT body FROM events {where} ORDER BY seq"
        if q.limit is not None:
            sql += " LIMIT ?"
            params.append(max(q.limit, 0))
        rows = await self.database.fetchall(sql, params)
        return [RuntimeEvent.from_json(row[0]) for row in rows]

    async def children_events(self, parent_trace_ids: Sequence[str]) -> list[RuntimeEvent]:
        """Events of the runs spawned by `parent_trace_ids` (indexed)."""
        rows = await self.database.fetchall(
            "SELECT body FROM events WHERE parent_trace_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY seq",
            (json.dumps(list(parent_trace_ids)),),
        )
        return [RuntimeEvent.from_json(row[0]) for row in rows]


def _to_json(value: Any) -> str:
    from pydantic_core import PydanticSerializationError, to_json

    try:
        return to_json(value).decode()
    except PydanticSerializationError as exc:
        raise RegistryError(
            f"a checkpoint must be JSON-serialisable: {exc}", code="not_json"
        ) from exc

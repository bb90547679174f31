"""`RocksDBRunStore`, `RocksDBEventStore` and the `rocksdb://` store URL."""

from __future__ import annotations

import builtins
import heapq
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from murmur.core.errors import RegistryError
from murmur.events import RuntimeEvent
from murmur.runs import (
    EventQuery,
    EventStore,
    RunRecord,
    RunStatus,
    RunStore,
    Stores,
    encode_event,
    encode_record,
    parse_store_url,
    url_flag,
)
from murmur_rocksdb import _keys as k
from murmur_rocksdb._database import RocksDatabase

__all__ = [
    "RocksDBEventStore",
    "RocksDBRunStore",
    "parse_rocksdb_url",
    "rocksdb_store_factory",
]


def parse_rocksdb_url(url: str) -> tuple[str, dict[str, Any]]:
    """The directory and options of a `rocksdb://` URL.

    `rocksdb:///data/runs` is relative to the working directory, `rocksdb:////var/lib/runs`
    is absolute; `?sync=1` fsyncs every write.

    Raises:
        RegistryError: code `"invalid_url"`.
    """
    parsed = parse_store_url(url, {"sync": url_flag}, schemes=("rocksdb",))
    path = parsed.path(
        names="directory", example="rocksdb:///runs (relative) or rocksdb:////absolute/path"
    )
    return path, parsed.options


def rocksdb_store_factory(url: str) -> Stores:
    """Entry point `murmur.stores:rocksdb`: run and event stores in one directory, opened now.

    Raises:
        RegistryError: a bad URL, or a directory that is corrupt, newer, foreign or locked.
    """
    path, options = parse_rocksdb_url(url)
    database = RocksDatabase(path, **options)
    return Stores(runs=RocksDBRunStore(database), events=RocksDBEventStore(database))


class _UsesDatabase:
    def __init__(self, database: RocksDatabase | str | os.PathLike[str], **options: Any) -> None:
        self.database = (
            database if isinstance(database, RocksDatabase) else RocksDatabase(database, **options)
        )
        self.database.acquire()
        self._released = False

    async def aclose(self) -> None:
        """Release the database (closed with its last store). Safe to call twice."""
        if not self._released:
            self._released = True
            self.database.release()


class RocksDBRunStore(_UsesDatabase, RunStore):
    """Runs and checkpoints in a RocksDB directory.

    Indexed by creation time, status, agent, parent and kind.

    Args:
        database: a directory path, or a `RocksDatabase` shared with an event store.
        **options: `RocksDatabase` options when `database` is a path.
    """

    async def put(self, record: RunRecord) -> None:
        """Insert or replace a run and move its index entries."""
        db = self.database
        body = encode_record(record).encode()  # refuses a bad record before touching the db
        run_key = k.RUN + record.run_id.encode()
        old_raw = db.get(run_key)
        batch = db.batch()
        if old_raw is not None:
            for key in _run_index_keys(RunRecord.model_validate_json(old_raw)):
                batch.delete(key)
        batch.put(run_key, body)
        for key in _run_index_keys(record):
            batch.put(key, b"")
        db.write(batch)

    async def get(self, run_id: str) -> RunRecord | None:
        """One run, or None."""
        raw = self.database.get(k.RUN + run_id.encode())
        return None if raw is None else RunRecord.model_validate_json(raw)

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
        filters: dict[str, str] = {
            name: str(value)
            for name, value in (
                ("parent_trace_id", parent_trace_id),
                ("agent_name", agent_name),
                ("status", None if status is None else RunStatus(status).value),
                ("kind", kind),
            )
            if value is not None
        }
        if filters:
            field, value = next(iter(filters.items()))
            prefix = k.field_prefix(k.RUN_INDEXES[field], value)
        else:
            prefix = k.RUN_CREATED
        out: builtins.list[RunRecord] = []
        skipped = 0
        if limit <= 0:
            return out
        for key in self.database.scan_keys_backwards(prefix):
            raw = self.database.get(k.RUN + key[len(prefix) + 8 :])
            if raw is None:
                continue
            record = RunRecord.model_validate_json(raw)
            if any(_field(record, name) != value for name, value in filters.items()):
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(record)
            if len(out) >= limit:
                break
        return out

    async def put_checkpoint(self, run_id: str, key: str, value: Any) -> None:
        """Save one checkpoint.

        Raises:
            RegistryError: code `"not_json"` when `value` cannot be stored as JSON.
        """
        from pydantic_core import PydanticSerializationError, to_json

        try:
            data = to_json(value)
        except PydanticSerializationError as exc:
            raise RegistryError(
                f"a checkpoint must be JSON-serialisable: {exc}", code="not_json"
            ) from exc
        batch = self.database.batch()
        batch.put(k.field_prefix(k.CHECKPOINT, run_id) + key.encode(), data)
        self.database.write(batch)

    async def checkpoints(self, run_id: str) -> dict[str, Any]:
        """Every checkpoint of `run_id`, by key."""
        prefix = k.field_prefix(k.CHECKPOINT, run_id)
        return {
            key[len(prefix) :].decode(): json.loads(value)
            for key, value in self.database.scan(prefix)
        }


class RocksDBEventStore(_UsesDatabase, EventStore):
    """Events in a RocksDB directory, in append order.

    Indexed by trace, parent, agent, type and time.

    Args:
        database: a directory path, or a `RocksDatabase` shared with a run store.
        **options: `RocksDatabase` options when `database` is a path.
    """

    async def append(self, event: RuntimeEvent) -> None:
        """Store one event."""
        await self.append_many((event,))

    async def append_many(self, events: Sequence[RuntimeEvent]) -> None:
        """Store several events in order, in one atomic write batch.

        An event whose id is already stored is skipped (brokers deliver at least once).

        Raises:
            RegistryError: code `"not_json"` for an event that cannot be stored; the other
                events of the call are stored.
        """
        db = self.database
        batch = db.batch()
        seen: set[str] = set()
        seq = db.next_seq
        bad: RegistryError | None = None
        for event in events:
            try:
                body = encode_event(event).encode()
            except RegistryError as exc:
                bad = bad or exc
                continue
            id_key = k.EVENT_ID + event.id.encode()
            if event.id in seen or db.get(id_key) is not None:
                continue
            seen.add(event.id)
            s = k.encode_seq(seq)
            batch.put(k.EVENT + s, body)
            batch.put(id_key, s)
            for prefix, value in (
                (k.EVENT_TRACE, event.trace_id),
                (k.EVENT_PARENT, event.parent_trace_id),
                (k.EVENT_AGENT, event.agent_name),
                (k.EVENT_TYPE, event.event_type.value),
            ):
                if value is not None:
                    batch.put(k.field_prefix(prefix, value) + s, b"")
            batch.put(k.EVENT_TIME + k.encode_float(event.timestamp) + s, b"")
            seq += 1
        if seq != db.next_seq:
            db.write(batch)
            db.next_seq = seq
        if bad is not None:
            raise bad

    async def query(self, query: EventQuery | None = None) -> list[RuntimeEvent]:
        """Events matching `query` in append order; `after_id` resumes after that event."""
        q = query or EventQuery()
        after = 0
        if q.after_id is not None:
            raw = self.database.get(k.EVENT_ID + q.after_id.encode())
            after = 0 if raw is None else k.decode_seq(raw)
        out: list[RuntimeEvent] = []
        if q.limit is not None and q.limit <= 0:
            return out
        for seq in self._candidates(q, after):
            raw = self.database.get(k.EVENT + k.encode_seq(seq))
            if raw is None:
                continue
            event = RuntimeEvent.from_json(raw)
            if q.matches(event):
                out.append(event)
                if q.limit is not None and len(out) >= q.limit:
                    break
        return out

    async def children_events(self, parent_trace_ids: Sequence[str]) -> list[RuntimeEvent]:
        """Events of the runs spawned by `parent_trace_ids` (indexed)."""
        seqs = _merge(
            self._index_seqs(k.EVENT_PARENT, p, 0) for p in dict.fromkeys(parent_trace_ids)
        )
        out: list[RuntimeEvent] = []
        for seq in seqs:
            raw = self.database.get(k.EVENT + k.encode_seq(seq))
            if raw is not None:
                out.append(RuntimeEvent.from_json(raw))
        return out

    def _candidates(self, q: EventQuery, after: int) -> Iterator[int]:
        """Sequence numbers (ascending, > after) of events that may match.

        They are the narrowest index's range; `matches` applies the remaining filters.
        """
        if q.trace_id is not None:
            return self._index_seqs(k.EVENT_TRACE, q.trace_id, after)
        if q.trace_ids is not None:
            traces = dict.fromkeys(q.trace_ids)
            return _merge(self._index_seqs(k.EVENT_TRACE, t, after) for t in traces)
        if q.agent_name is not None:
            return self._index_seqs(k.EVENT_AGENT, q.agent_name, after)
        if q.event_types is not None:
            types = dict.fromkeys(str(t) for t in q.event_types)
            return _merge(self._index_seqs(k.EVENT_TYPE, t, after) for t in types)
        if q.since is not None or q.until is not None:
            return iter(sorted(s for s in self._time_seqs(q.since, q.until) if s > after))
        return (
            k.decode_seq(key)
            for key, _ in self.database.scan(k.EVENT, start=k.EVENT + k.encode_seq(after + 1))
        )

    def _index_seqs(self, prefix: bytes, value: str, after: int) -> Iterator[int]:
        start = k.field_prefix(prefix, value)
        for key, _ in self.database.scan(start, start=start + k.encode_seq(after + 1)):
            yield k.decode_seq(key)

    def _time_seqs(self, since: float | None, until: float | None) -> Iterator[int]:
        start = k.EVENT_TIME + (k.encode_float(since) if since is not None else b"")
        end = None if until is None else k.EVENT_TIME + k.encode_float(until) + b"\xff" * 8
        for key, _ in self.database.scan(k.EVENT_TIME, start=start):
            if end is not None and key > end:
                return
            yield k.decode_seq(key)


def _merge(iterators: Iterable[Iterator[int]]) -> Iterator[int]:
    """Merge ascending sequence-number iterators, dropping duplicates."""
    last = -1
    for seq in heapq.merge(*iterators):
        if seq != last:
            yield seq
            last = seq


def _field(record: RunRecord, name: str) -> str | None:
    value = getattr(record, name)
    return None if value is None else str(value.value if name == "status" else value)


def _run_index_keys(record: RunRecord) -> builtins.list[bytes]:
    suffix = k.encode_float(record.created_at) + record.run_id.encode()
    keys = [k.RUN_CREATED + suffix]
    for name, prefix in k.RUN_INDEXES.items():
        value = _field(record, name)
        if value is not None:
            keys.append(k.field_prefix(prefix, value) + suffix)
    return keys

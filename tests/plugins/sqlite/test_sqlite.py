"""SQLite specifics: URLs, WAL mode, schema migration, refusing corrupt or newer files,
batched writes, indexes."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from murmur_sqlite import (
    SCHEMA_VERSION,
    SQLiteDatabase,
    SQLiteEventStore,
    SQLiteRunStore,
    parse_sqlite_url,
    sqlite_store_factory,
)
from murmur_sqlite._schema import APPLICATION_ID, MIGRATIONS

from murmur import AgentRuntime
from murmur.core.errors import RegistryError
from murmur.events import EventType, RuntimeEvent
from murmur.runs import EventQuery, RunRecord


def _event(trace: str = "t1") -> RuntimeEvent:
    return RuntimeEvent(event_type=EventType.AGENT_SPAWNED, agent_name="a", trace_id=trace)


def _rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read with a separate connection, as another process would."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_urls_name_relative_absolute_and_memory_files() -> None:
    """sqlite:///rel, sqlite:////abs and sqlite:///:memory: name the expected files."""
    assert parse_sqlite_url("sqlite:///runs.db") == ("runs.db", {})
    assert parse_sqlite_url("sqlite:////var/lib/murmur/runs.db") == ("/var/lib/murmur/runs.db", {})
    assert parse_sqlite_url("sqlite:///:memory:") == (":memory:", {})
    assert parse_sqlite_url("sqlite:///r.db?batch_size=10&flush_interval=0.5") == (
        "r.db",
        {"batch_size": 10, "flush_interval": 0.5},
    )


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///r.db?colour=blue", "sqlite:///r.db?batch_size=many"]
)
def test_bad_urls_get_a_typed_error(url: str) -> None:
    """A URL with no file or an unknown/bad option is refused with a clear message."""
    with pytest.raises(RegistryError) as info:
        parse_sqlite_url(url)
    assert info.value.code == "invalid_url"


async def test_runtime_selects_sqlite_by_url_scheme(tmp_path: Path) -> None:
    """AgentRuntime(store="sqlite:///...") records into a SQLite file via the entry point."""
    runtime = AgentRuntime(store=f"sqlite:///{tmp_path}/rt.db")
    assert runtime.stores is not None
    assert isinstance(runtime.stores.runs, SQLiteRunStore)
    assert isinstance(runtime.stores.events, SQLiteEventStore)
    await runtime.stores.runs.put(RunRecord(run_id="r1"))
    await runtime.aclose()
    assert _rows(tmp_path / "rt.db", "SELECT run_id FROM runs") == [("r1",)]


async def test_file_is_in_wal_mode_with_the_current_schema(tmp_path: Path) -> None:
    """A new file is created in WAL mode, stamped with the schema version and murmur's id."""
    path = tmp_path / "deep" / "dir" / "runs.db"
    async with SQLiteRunStore(path) as store:
        assert await store.database.fetchall("PRAGMA journal_mode") == [("wal",)]
    assert _rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _rows(path, "PRAGMA application_id") == [(APPLICATION_ID,)]


async def test_queries_use_the_indexes(tmp_path: Path) -> None:
    """Trace, parent, agent, type and time queries are answered from indexes."""
    async with SQLiteEventStore(tmp_path / "runs.db") as store:
        plans = {
            "trace_id = 'x'": "events_trace",
            "parent_trace_id = 'x'": "events_parent",
            "agent_name = 'x'": "events_agent",
            "event_type = 'x'": "events_type",
            "timestamp > 5": "events_time",
        }
        for where, index in plans.items():
            plan = await store.database.fetchall(
                f"EXPLAIN QUERY PLAN SELECT body FROM events WHERE {where}"
            )
            assert index in str(plan), (where, plan)


async def test_an_older_schema_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    """A version-1 file gains the version-2 tables on open; its runs and events stay."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        conn.execute(statement)
    record = RunRecord(run_id="old-run", agent_name="a")
    conn.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("old-run", "agent", "a", None, "pending", 1.0, 1.0, record.model_dump_json()),
    )
    event = _event("old-trace")
    conn.execute(
        "INSERT INTO events (id, event_type, agent_name, task_id, trace_id, parent_trace_id, "
        "timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (event.id, "agent_spawned", "a", None, "old-trace", None, event.timestamp, event.to_json()),
    )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    stores = sqlite_store_factory(f"sqlite:///{path}")
    assert await stores.runs.get("old-run") == record
    assert await stores.events.query() == [event]
    await stores.runs.put_checkpoint("old-run", "node", 1)
    assert await stores.runs.checkpoints("old-run") == {"node": 1}
    await stores.aclose()
    assert _rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def _newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 7}")
    conn.commit()
    conn.close()


def test_a_newer_schema_is_refused_when_the_store_is_created(tmp_path: Path) -> None:
    """A file from a newer murmur-sqlite fails AgentRuntime(store=...) with a typed error."""
    path = tmp_path / "future.db"
    _newer(path)
    before = path.read_bytes()
    with pytest.raises(RegistryError) as info:
        AgentRuntime(store=f"sqlite:///{path}")
    assert info.value.code == "store_schema_newer"
    assert "upgrade murmur-sqlite" in info.value.message
    assert path.read_bytes() == before


async def test_a_newer_schema_is_refused_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schema check on open (not only the header check) refuses a newer file."""
    path = tmp_path / "future.db"
    _newer(path)
    monkeypatch.setattr("murmur_sqlite._database.check_file", lambda path: None)
    before = path.read_bytes()
    store = SQLiteRunStore(path)
    with pytest.raises(RegistryError) as info:
        await store.get("x")
    assert info.value.code == "store_schema_newer"
    assert info.value.details["found"] == SCHEMA_VERSION + 7
    await store.aclose()
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    """Garbage where the store file should be fails with store_corrupt, left as it was."""
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is not a database at all" * 50)
    with pytest.raises(RegistryError) as info:
        sqlite_store_factory(f"sqlite:///{path}")
    assert info.value.code == "store_corrupt"
    assert "restore it from a backup" in info.value.message
    assert path.read_bytes() == b"this is not a database at all" * 50


async def test_a_damaged_database_is_refused_on_use(tmp_path: Path) -> None:
    """A store whose pages were overwritten raises store_corrupt, never an empty answer."""
    path = tmp_path / "runs.db"
    async with SQLiteEventStore(path) as store:
        await store.append_many([_event(f"t{i}") for i in range(2000)])
    data = bytearray(path.read_bytes())
    page = 4096
    data[page : len(data)] = b"\xde\xad\xbe\xef" * ((len(data) - page) // 4)
    path.write_bytes(bytes(data))
    store = SQLiteEventStore(path)
    with pytest.raises(RegistryError) as info:
        await store.query(EventQuery(trace_id="t5"))
    assert info.value.code == "store_corrupt"
    await store.aclose()


async def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    """A SQLite file another program created is not taken over."""
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.commit()
    conn.close()
    store = SQLiteRunStore(path)
    with pytest.raises(RegistryError) as info:
        await store.open()
    assert info.value.code == "store_foreign"
    await store.aclose()
    assert _rows(path, "SELECT name FROM sqlite_master") == [("customers",)]


async def test_appends_are_written_in_batches(tmp_path: Path) -> None:
    """Appends are buffered and written in one transaction when the batch fills."""
    path = tmp_path / "runs.db"
    store = SQLiteEventStore(path, batch_size=10, flush_interval=3600)
    await store.open()
    for i in range(9):
        await store.append(_event(f"t{i}"))
    assert _rows(path, "SELECT count(*) FROM events") == [(0,)]
    await store.append(_event("t9"))
    assert _rows(path, "SELECT count(*) FROM events") == [(10,)]
    await store.append(_event("t10"))
    assert len(await store.query()) == 11  # a read flushes first
    await store.aclose()


async def test_buffered_appends_reach_the_file_after_the_flush_interval(tmp_path: Path) -> None:
    """A lone buffered event is written by the background flush, without any read."""
    path = tmp_path / "runs.db"
    store = SQLiteEventStore(path, flush_interval=0.01)
    await store.append(_event())
    for _ in range(500):
        if _rows(path, "SELECT count(*) FROM events") == [(1,)]:
            break
        await asyncio.sleep(0.01)
    assert _rows(path, "SELECT count(*) FROM events") == [(1,)]
    await store.aclose()


async def test_closing_flushes_and_later_use_is_refused(tmp_path: Path) -> None:
    """Closing writes what was buffered; a closed store raises store_closed."""
    path = tmp_path / "runs.db"
    store = SQLiteRunStore(path, flush_interval=3600)
    await store.put(RunRecord(run_id="r1"))
    await store.aclose()
    await store.aclose()
    assert _rows(path, "SELECT run_id FROM runs") == [("r1",)]
    with pytest.raises(RegistryError) as info:
        await store.get("r1")
    assert info.value.code == "store_closed"


async def test_duplicate_event_ids_are_stored_once(tmp_path: Path) -> None:
    """An event delivered twice (at-least-once brokers) is kept once."""
    async with SQLiteEventStore(tmp_path / "runs.db") as store:
        event = _event()
        await store.append(event)
        await store.append_many([event, event])
        assert await store.query() == [event]


async def test_two_stores_share_one_file(tmp_path: Path) -> None:
    """Run and event stores on one SQLiteDatabase share a connection and close together."""
    database = SQLiteDatabase(tmp_path / "shared.db")
    runs, events = SQLiteRunStore(database), SQLiteEventStore(database)
    await runs.put(RunRecord(run_id="r1"))
    await events.append(_event())
    await runs.aclose()
    assert await events.query() != []
    await events.aclose()
    assert _rows(tmp_path / "shared.db", "SELECT count(*) FROM runs") == [(1,)]


async def test_checkpoint_values_must_be_json(tmp_path: Path) -> None:
    """A checkpoint that cannot be stored as JSON is refused with a typed error."""
    async with SQLiteRunStore(tmp_path / "runs.db") as store:
        with pytest.raises(RegistryError) as info:
            await store.put_checkpoint("r1", "k", object())
        assert info.value.code == "not_json"

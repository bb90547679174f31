"""RocksDB specifics: URLs, the documented key layout, refusing corrupt, newer, foreign
or locked directories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
import rocksdict
from murmur_rocksdb import (
    SCHEMA_VERSION,
    RocksDatabase,
    RocksDBEventStore,
    RocksDBRunStore,
    parse_rocksdb_url,
    rocksdb_store_factory,
)
from murmur_rocksdb import _keys as k

from murmur import AgentRuntime
from murmur.core.errors import RegistryError
from murmur.events import EventType, RuntimeEvent
from murmur.runs import RunRecord, RunStatus


def _raw(path: Path) -> dict[bytes, bytes]:
    """Every key and value, read as another program would."""
    options = rocksdict.Options(raw_mode=True)
    db = rocksdict.Rdict(str(path), options)
    try:
        return cast("dict[bytes, bytes]", dict(db.items()))
    finally:
        db.close()


def test_urls_name_relative_and_absolute_directories() -> None:
    """rocksdb:///rel and rocksdb:////abs name the expected directories; ?sync=1 parses."""
    assert parse_rocksdb_url("rocksdb:///data/runs") == ("data/runs", {})
    assert parse_rocksdb_url("rocksdb:////var/lib/runs?sync=1") == ("/var/lib/runs", {"sync": True})
    with pytest.raises(RegistryError) as info:
        parse_rocksdb_url("rocksdb:///x?colour=blue")
    assert info.value.code == "invalid_url"


async def test_runtime_selects_rocksdb_by_url_scheme(tmp_path: Path) -> None:
    """AgentRuntime(store="rocksdb:///...") records into a RocksDB directory."""
    runtime = AgentRuntime(store=f"rocksdb:///{tmp_path}/db")
    assert runtime.stores is not None
    assert isinstance(runtime.stores.runs, RocksDBRunStore)
    assert isinstance(runtime.stores.events, RocksDBEventStore)
    await runtime.stores.runs.put(RunRecord(run_id="r1"))
    await runtime.aclose()
    assert k.RUN + b"r1" in _raw(tmp_path / "db")


async def test_keys_follow_the_documented_layout(tmp_path: Path) -> None:
    """Runs, checkpoints and events sit under the prefixes docs/stores.md documents."""
    stores = rocksdb_store_factory(f"rocksdb:///{tmp_path}/db")
    record = RunRecord(run_id="r1", agent_name="a", parent_trace_id="p", created_at=2.0)
    await stores.runs.put(record)
    await stores.runs.put(record.model_copy(update={"status": RunStatus.COMPLETED}))
    await stores.runs.put_checkpoint("r1", "node:x", [1])
    event = RuntimeEvent(
        event_type=EventType.AGENT_SPAWNED,
        agent_name="a",
        trace_id="r1",
        parent_trace_id="p",
        timestamp=5.0,
    )
    await stores.events.append(event)
    await stores.aclose()
    created = k.encode_float(2.0)
    seq = (1).to_bytes(8, "big")
    assert _raw(tmp_path / "db") == {
        b"meta/schema_version": str(SCHEMA_VERSION).encode(),
        b"run/r1": record.model_copy(update={"status": RunStatus.COMPLETED})
        .model_dump_json()
        .encode(),
        b"run-created/" + created + b"r1": b"",
        b"run-status/completed\0" + created + b"r1": b"",
        b"run-agent/a\0" + created + b"r1": b"",
        b"run-parent/p\0" + created + b"r1": b"",
        b"run-kind/agent\0" + created + b"r1": b"",
        b"ckpt/r1\0node:x": b"[1]",
        b"ev/" + seq: event.to_json().encode(),
        b"ev-id/" + event.id.encode(): seq,
        b"ev-trace/r1\0" + seq: b"",
        b"ev-parent/p\0" + seq: b"",
        b"ev-agent/a\0" + seq: b"",
        b"ev-type/agent_spawned\0" + seq: b"",
        b"ev-time/" + k.encode_float(5.0) + seq: b"",
    }
    assert json.loads(b"[1]") == [1]


def test_float_keys_sort_numerically() -> None:
    """The float encoding orders bytes like numbers, negatives included."""
    values = [-1e9, -2.5, -0.0, 0.0, 1e-9, 1.0, 1_700_000_000.5, 1e300]
    assert sorted(values, key=k.encode_float) == values


def test_a_directory_is_owned_by_one_process_at_a_time(tmp_path: Path) -> None:
    """Opening a directory another store holds fails with store_locked and a hint."""
    first = RocksDatabase(tmp_path / "db")
    try:
        with pytest.raises(RegistryError) as info:
            RocksDatabase(tmp_path / "db")
        assert info.value.code == "store_locked"
        assert "murmur-sqlite or murmur-redis" in info.value.message
    finally:
        first.close()


def test_a_newer_layout_is_refused(tmp_path: Path) -> None:
    """A directory from a newer murmur-rocksdb fails with store_schema_newer, untouched."""
    RocksDatabase(tmp_path / "db").close()
    db = rocksdict.Rdict(str(tmp_path / "db"), rocksdict.Options(raw_mode=True))
    db[k.SCHEMA_KEY] = str(SCHEMA_VERSION + 1).encode()
    db.close()
    with pytest.raises(RegistryError) as info:
        AgentRuntime(store=f"rocksdb:///{tmp_path}/db")
    assert info.value.code == "store_schema_newer"
    assert _raw(tmp_path / "db")[k.SCHEMA_KEY] == str(SCHEMA_VERSION + 1).encode()


def test_a_corrupt_directory_is_refused(tmp_path: Path) -> None:
    """A damaged RocksDB directory fails with store_corrupt rather than opening empty."""
    database = RocksDatabase(tmp_path / "db")
    database.close()
    (tmp_path / "db" / "CURRENT").write_text("garbage\n")
    with pytest.raises(RegistryError) as info:
        rocksdb_store_factory(f"rocksdb:///{tmp_path}/db")
    assert info.value.code == "store_corrupt"
    assert (tmp_path / "db" / "CURRENT").read_text() == "garbage\n"


def test_a_directory_with_other_data_is_refused(tmp_path: Path) -> None:
    """A non-empty directory that is not a murmur store is not taken over."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RegistryError) as info:
        RocksDatabase(tmp_path / "mine")
    assert info.value.code == "store_foreign"
    other = rocksdict.Rdict(str(tmp_path / "other"), rocksdict.Options(raw_mode=True))
    other[b"key"] = b"value"
    other.close()
    with pytest.raises(RegistryError) as info:
        RocksDatabase(tmp_path / "other")
    assert info.value.code == "store_foreign"


async def test_a_closed_store_refuses_use(tmp_path: Path) -> None:
    """After close, a store raises store_closed instead of touching the directory."""
    store = RocksDBRunStore(tmp_path / "db")
    await store.aclose()
    await store.aclose()
    with pytest.raises(RegistryError) as info:
        await store.get("r1")
    assert info.value.code == "store_closed"


async def test_duplicate_event_ids_are_stored_once(tmp_path: Path) -> None:
    """An event delivered twice (at-least-once brokers) is kept once."""
    store = RocksDBEventStore(tmp_path / "db")
    event = RuntimeEvent(event_type=EventType.AGENT_SPAWNED, trace_id="t")
    await store.append(event)
    await store.append_many([event, event])
    assert await store.query() == [event]
    await store.aclose()


async def test_a_run_whose_record_cannot_be_written_fails_with_the_store_error(
    tmp_path: Path,
) -> None:
    """A RocksDB store that cannot be written (here: closed under the runtime) fails the
    run with RegistryError(store_closed) instead of a success nobody recorded."""
    from murmur import Agent
    from murmur.events import NullEventEmitter

    runtime = AgentRuntime(store=f"rocksdb:///{tmp_path}/db", event_emitter=NullEventEmitter())
    assert runtime.stores is not None
    await runtime.stores.aclose()
    result = await runtime.run(Agent(name="echo", model="test"), "hi")
    assert isinstance(result.error, RegistryError)
    assert result.error.code == "store_closed"

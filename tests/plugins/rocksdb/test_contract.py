"""The RocksDB stores pass the store contract suites on a real directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from murmur_rocksdb import RocksDBEventStore, RocksDBRunStore

from murmur.runs import EventStore, RunStore
from murmur.testing.store_exit import StoreExitContract
from murmur.testing.stores import EventStoreContract, Reopen, RunStoreContract


class TestRocksDBRunStore(RunStoreContract):
    @pytest.fixture
    async def run_store(self, tmp_path: Path) -> AsyncIterator[RunStore]:
        store = RocksDBRunStore(tmp_path / "db")
        yield store
        await store.aclose()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Reopen[RunStore]:
        async def reopen(store: RunStore) -> RunStore:
            await store.aclose()
            return RocksDBRunStore(tmp_path / "db")

        return reopen


class TestRocksDBEventStore(EventStoreContract):
    @pytest.fixture
    async def event_store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        store = RocksDBEventStore(tmp_path / "db")
        yield store
        await store.aclose()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Reopen[EventStore]:
        async def reopen(store: EventStore) -> EventStore:
            await store.aclose()
            return RocksDBEventStore(tmp_path / "db")

        return reopen


class TestRocksDBStoreExit(StoreExitContract):
    """REPETITIONS programs per exit path (one directory each: RocksDB takes one process) never
    close their runtime."""

    preload = ("rocksdict",)

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"rocksdb:///{tmp_path}/exit-{{i}}"

"""The SQLite stores pass the store contract suites on a real file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from murmur_sqlite import SQLiteEventStore, SQLiteRunStore, sqlite_store_factory

from murmur.runs import EventStore, RunStore
from murmur.testing.store_exit import StoreExitContract
from murmur.testing.stores import EventStoreContract, Reopen, RunStoreContract


class TestSQLiteRunStore(RunStoreContract):
    @pytest.fixture
    async def run_store(self, tmp_path: Path) -> AsyncIterator[RunStore]:
        stores = sqlite_store_factory(f"sqlite:///{tmp_path}/runs.db")
        yield stores.runs
        await stores.aclose()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Reopen[RunStore]:
        async def reopen(store: RunStore) -> RunStore:
            await store.aclose()
            return SQLiteRunStore(tmp_path / "runs.db")

        return reopen


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    async def event_store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        stores = sqlite_store_factory(f"sqlite:///{tmp_path}/runs.db")
        yield stores.events
        await stores.aclose()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Reopen[EventStore]:
        async def reopen(store: EventStore) -> EventStore:
            await store.aclose()
            return SQLiteEventStore(tmp_path / "runs.db")

        return reopen


class TestSQLiteEventStoreUnbatched(EventStoreContract):
    """With batch_size=1 every append is its own transaction: same behaviour."""

    @pytest.fixture
    async def event_store(self, tmp_path: Path) -> AsyncIterator[EventStore]:
        store = SQLiteEventStore(tmp_path / "events.db", batch_size=1, flush_interval=0)
        yield store
        await store.aclose()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Reopen[EventStore]:
        async def reopen(store: EventStore) -> EventStore:
            await store.aclose()
            return SQLiteEventStore(tmp_path / "events.db", batch_size=1, flush_interval=0)

        return reopen


class TestSQLiteStoreExit(StoreExitContract):
    """50 programs per exit path share one SQLite file and never close their runtime."""

    preload = ("aiosqlite",)

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'exit.db'}"

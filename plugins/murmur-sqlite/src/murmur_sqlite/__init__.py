"""SQLite run and event stores for murmur: `AgentRuntime(store="sqlite:///runs.db")`.

One file holds runs, checkpoints and events (WAL mode, so readers never block the writer
and several processes can share it). Run records and checkpoints are committed before
`put` / `put_checkpoint` return; events are batched in-process and written in one
transaction by size, by time (`flush_interval`), with the next run record, before every
read, on close and at interpreter exit. The
schema is versioned (`PRAGMA user_version`) and migrated forward on open; a corrupt file
or one from a newer murmur-sqlite raises a `RegistryError` and is left untouched.
"""

from __future__ import annotations

from murmur_sqlite._database import SQLiteDatabase
from murmur_sqlite._schema import SCHEMA_VERSION
from murmur_sqlite._stores import (
    SQLiteEventStore,
    SQLiteRunStore,
    parse_sqlite_url,
    sqlite_store_factory,
)

__all__ = [
    "SCHEMA_VERSION",
    "SQLiteDatabase",
    "SQLiteEventStore",
    "SQLiteRunStore",
    "parse_sqlite_url",
    "sqlite_store_factory",
]

"""The SQLite schema, its version, and the migrations that bring older files up to date.

The schema version lives in SQLite's own header (`PRAGMA user_version`), next to an
application id (`PRAGMA application_id`, "mrmr") that marks the file as a murmur store.
Opening a file runs every migration newer than its version, in one transaction; a file
from a newer murmur-sqlite, or one another program wrote, is refused with a typed error
and never modified.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from murmur.core.errors import RegistryError

if TYPE_CHECKING:
    import aiosqlite

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check_file",
    "corrupt_error",
    "migrate",
    "newer_schema_error",
    "read_schema_version",
]

APPLICATION_ID = 0x6D726D72
"""`PRAGMA application_id` of every murmur SQLite store (ASCII "mrmr")."""

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            agent_name TEXT,
            parent_trace_id TEXT,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            record TEXT NOT NULL
        )""",
        "CREATE INDEX runs_created ON runs (created_at)",
        "CREATE INDEX runs_status ON runs (status, created_at)",
        "CREATE INDEX runs_agent ON runs (agent_name, created_at)",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            event_type TEXT NOT NULL,
            agent_name TEXT,
            task_id TEXT,
            trace_id TEXT,
            parent_trace_id TEXT,
            timestamp REAL NOT NULL,
            body TEXT NOT NULL
        )""",
        "CREATE INDEX events_trace ON events (trace_id, seq)",
        "CREATE INDEX events_agent ON events (agent_name, seq)",
        "CREATE INDEX events_type ON events (event_type, seq)",
        "CREATE INDEX events_time ON events (timestamp)",
    ),
    # 2: checkpoints for durable runs, and the parent/kind indexes run trees need.
    2: (
        """CREATE TABLE checkpoints (
            run_id TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (run_id, key)
        ) WITHOUT ROWID""",
        "CREATE INDEX runs_parent ON runs (parent_trace_id, created_at)",
        "CREATE INDEX runs_kind ON runs (kind, created_at)",
        "CREATE INDEX events_parent ON events (parent_trace_id, seq)",
    ),
}
"""Statements that bring a file from version `n - 1` to version `n`."""

SCHEMA_VERSION = max(MIGRATIONS)
"""The schema version this murmur-sqlite writes and reads."""

_HEADER = b"SQLite format 3\x00"


def corrupt_error(path: str, reason: str) -> RegistryError:
    """The error for a file murmur cannot read as a SQLite store."""
    return RegistryError(
        f"the SQLite store {path!r} is corrupt or not a SQLite database ({reason}); "
        "murmur left it untouched: restore it from a backup, or point the store URL at a "
        "new file",
        code="store_corrupt",
        details={"path": path, "reason": reason},
    )


def newer_schema_error(path: str, found: int) -> RegistryError:
    """The error for a file written by a newer murmur-sqlite."""
    return RegistryError(
        f"the SQLite store {path!r} has schema version {found}, newer than the {SCHEMA_VERSION} "
        "this murmur-sqlite understands; murmur left it untouched: upgrade murmur-sqlite "
        "(pip install -U murmur-sqlite) to open it",
        code="store_schema_newer",
        details={"path": path, "found": found, "supported": SCHEMA_VERSION},
    )


def check_file(path: str) -> None:
    """Refuse a file that is not a SQLite database or is from a newer schema.

    It never opens a connection: it reads the 100-byte header only.

    Raises:
        RegistryError: code `"store_corrupt"` or `"store_schema_newer"`.
    """
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise corrupt_error(path, "it is a directory") from None
    except OSError as exc:
        raise RegistryError(
            f"cannot read the SQLite store {path!r}: {exc}; check the path and its permissions",
            code="store_unavailable",
            details={"path": path},
        ) from exc
    if not header:
        return  # an empty file is a new database
    if len(header) < 100 or not header.startswith(_HEADER):
        raise corrupt_error(path, "file is not a database")
    user_version = int.from_bytes(header[60:64], "big")
    if user_version > SCHEMA_VERSION:
        raise newer_schema_error(path, user_version)


async def migrate(conn: aiosqlite.Connection, path: str) -> int:
    """Bring the open database up to `SCHEMA_VERSION`; returns the version it found.

    Raises:
        RegistryError: code `"store_schema_newer"` for a newer file, `"store_foreign"` for
            a database another program created.
    """
    version = await read_schema_version(conn, path)
    if version == SCHEMA_VERSION:
        return version
    await conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while this one waited for the write lock.
        version = await _pragma(conn, "user_version")
        if version > SCHEMA_VERSION:
            raise newer_schema_error(path, version)
        if version == 0:
            await _refuse_foreign(conn, path)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                await conn.execute(statement)
        await conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        await conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        await conn.execute("COMMIT")
    except BaseException:
        await conn.execute("ROLLBACK")
        raise
    return version


async def read_schema_version(conn: aiosqlite.Connection, path: str) -> int:
    """The file's schema version, read without writing anything.

    Raises:
        RegistryError: code `"store_schema_newer"` or `"store_foreign"`.
    """
    version = await _pragma(conn, "user_version")
    if version > SCHEMA_VERSION:
        raise newer_schema_error(path, version)
    if version == 0:
        await _refuse_foreign(conn, path)
    return version


async def _refuse_foreign(conn: aiosqlite.Connection, path: str) -> None:
    async with conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
    ) as cursor:
        row = await cursor.fetchone()
    application_id = await _pragma(conn, "application_id")
    if row is not None and row[0] and application_id != APPLICATION_ID:
        raise RegistryError(
            f"{path!r} is a SQLite database that murmur did not create (it already has "
            "tables); murmur left it untouched: point the store URL at a new file",
            code="store_foreign",
            details={"path": path},
        )


async def _pragma(conn: aiosqlite.Connection, name: str) -> int:
    async with conn.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0

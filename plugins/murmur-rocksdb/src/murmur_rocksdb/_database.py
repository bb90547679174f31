"""`RocksDatabase`: one RocksDB directory shared by a run store and an event store.

RocksDB calls are synchronous and take microseconds (memtable + write-ahead log), so the
stores make them on the event loop's thread instead of paying a thread hop per call. One
process at a time may open a directory (RocksDB's own lock); share one `Stores` object
between runtimes in a process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

from murmur.core.errors import RegistryError
from murmur_rocksdb import _keys as k

if TYPE_CHECKING:
    from rocksdict import Rdict, WriteBatch

__all__ = ["SCHEMA_VERSION", "RocksDatabase"]

MIGRATIONS: dict[int, Callable[[RocksDatabase], None]] = {
    1: lambda db: None,  # the first layout: nothing to convert
}
"""Functions that bring a directory from version `n - 1` to version `n`."""

SCHEMA_VERSION = max(MIGRATIONS)
"""The key-layout version this murmur-rocksdb writes and reads."""


class RocksDatabase:
    """A RocksDB directory opened (and created when missing) at construction.

    Args:
        path: the database directory.
        sync: fsync the write-ahead log on every write (survives power loss, not only a
            process crash; slower).

    Raises:
        RegistryError: code `"store_corrupt"`, `"store_schema_newer"`, `"store_foreign"`,
            `"store_locked"` (another process has it open) or `"store_unavailable"`.
    """

    def __init__(self, path: str | os.PathLike[str], *, sync: bool = False) -> None:
        from rocksdict import Options, Rdict, WriteOptions

        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        _refuse_foreign_directory(self.path)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        try:
            self._db: Rdict | None = Rdict(self.path, options)
        except Exception as exc:
            raise _open_error(self.path, exc) from exc
        if sync:
            write_options = WriteOptions()
            write_options.sync = True
            self._db.set_write_options(write_options)
        self._users = 0
        self.next_seq = 1
        try:
            self._check_schema()
            self.next_seq = self._last_seq() + 1
        except BaseException:
            self._db.close()
            self._db = None
            raise

    def __repr__(self) -> str:
        return f"RocksDatabase({self.path!r})"

    @property
    def db(self) -> Rdict:
        """The open `Rdict` (raises when closed)."""
        if self._db is None:
            raise RegistryError(
                f"the RocksDB store {self.path!r} is closed; open a new one", code="store_closed"
            )
        return self._db

    def acquire(self) -> None:
        """Count one more store using this database (it closes when the last releases)."""
        self._users += 1

    def release(self) -> None:
        """One store is done with the database; the last one closes it."""
        self._users -= 1
        if self._users <= 0:
            self.close()

    def close(self) -> None:
        """Flush the write-ahead log and close. Safe to call twice."""
        db, self._db = self._db, None
        if db is not None:
            db.flush_wal(True)
            db.close()

    def batch(self) -> WriteBatch:
        """A new raw-mode write batch for `write`."""
        from rocksdict import WriteBatch

        return WriteBatch(raw_mode=True)

    def write(self, batch: WriteBatch) -> None:
        """Apply a batch atomically."""
        try:
            self.db.write(batch)
        except RegistryError:
            raise
        except Exception as exc:
            raise _io_error(self.path, "write", exc) from exc

    def get(self, key: bytes) -> bytes | None:
        """One value, or None."""
        try:
            return cast("bytes | None", self.db.get(key))
        except RegistryError:
            raise
        except Exception as exc:
            raise _io_error(self.path, "read", exc) from exc

    def scan(self, prefix: bytes, *, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Keys and values under `prefix` in key order, from `start` (inclusive) if given."""
        # raw mode: keys and values are bytes (rocksdict's stubs also allow str/int/float)
        for key, value in cast(
            "Iterator[tuple[bytes, bytes]]", self.db.items(from_key=start or prefix)
        ):
            if not key.startswith(prefix):
                return
            yield key, value

    def scan_keys_backwards(self, prefix: bytes) -> Iterator[bytes]:
        """Keys under `prefix` in reverse key order."""
        end = k.successor(prefix)
        for key in cast("Iterator[bytes]", self.db.keys(from_key=end, backwards=True)):
            if key == end:
                continue
            if not key.startswith(prefix):
                return
            yield key

    def _check_schema(self) -> None:
        raw = self.get(k.SCHEMA_KEY)
        if raw is None:
            if next(iter(self.db.keys()), None) is not None:
                raise _foreign(self.path)
            self.db.put(k.SCHEMA_KEY, str(SCHEMA_VERSION).encode())
            return
        try:
            version = int(raw)
        except ValueError:
            raise _corrupt(self.path, f"unreadable schema version {raw!r}") from None
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"the RocksDB store {self.path!r} has layout version {version}, newer than the "
                f"{SCHEMA_VERSION} this murmur-rocksdb understands; murmur left it untouched: "
                "upgrade murmur-rocksdb (pip install -U murmur-rocksdb) to open it",
                code="store_schema_newer",
                details={"path": self.path, "found": version, "supported": SCHEMA_VERSION},
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[step](self)
            self.db.put(k.SCHEMA_KEY, str(step).encode())

    def _last_seq(self) -> int:
        for key in self.scan_keys_backwards(k.EVENT):
            return k.decode_seq(key)
        return 0


def _refuse_foreign_directory(path: str) -> None:
    if (
        os.path.isdir(path)
        and os.listdir(path)
        and not os.path.exists(os.path.join(path, "CURRENT"))
    ):
        raise _foreign(path)


def _foreign(path: str) -> RegistryError:
    return RegistryError(
        f"{path!r} holds data that is not a murmur RocksDB store; murmur left it untouched: "
        "point the store URL at a new or empty directory",
        code="store_foreign",
        details={"path": path},
    )


def _corrupt(path: str, reason: str) -> RegistryError:
    return RegistryError(
        f"the RocksDB store {path!r} is corrupt ({reason}); murmur left it untouched: restore "
        "it from a backup, or point the store URL at a new directory",
        code="store_corrupt",
        details={"path": path, "reason": reason},
    )


def _open_error(path: str, exc: BaseException) -> RegistryError:
    text = str(exc)
    if "Corruption" in text or "corrupt" in text:
        return _corrupt(path, text)
    if "lock" in text.lower():
        return RegistryError(
            f"the RocksDB store {path!r} is open in another process or runtime ({text}); "
            "RocksDB allows one process per directory: share one store, or use "
            "murmur-sqlite or murmur-redis for several processes",
            code="store_locked",
            details={"path": path},
        )
    return _io_error(path, "open", exc)


def _io_error(path: str, action: str, exc: BaseException) -> RegistryError:
    text = str(exc)
    if "Corruption" in text:
        return _corrupt(path, text)
    details: dict[str, Any] = {"path": path, "action": action}
    return RegistryError(
        f"the RocksDB store {path!r} failed to {action}: {text}; check the path, disk space "
        "and permissions",
        code="store_unavailable",
        details=details,
    )

"""RocksDB stores survive a process exit: a new process reads the same runs, events, tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from murmur.testing.store_restart import StoreRestartScenario


class TestRocksDBRestart(StoreRestartScenario):
    """One directory; every write is in RocksDB's write-ahead log when it returns."""

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"rocksdb:///{tmp_path}/runs"

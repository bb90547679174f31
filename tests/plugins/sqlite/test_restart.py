"""SQLite stores survive a process exit: a new process reads the same runs, events, tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from murmur.testing.store_restart import StoreRestartScenario


class TestSQLiteRestart(StoreRestartScenario):
    """One file; the never-closed writer flushes only at exit (a one-hour flush interval)."""

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/runs.db"

    @pytest.fixture
    def unclosed_store_url(self, store_url: str) -> str:
        return f"{store_url}?flush_interval=3600"

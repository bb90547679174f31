"""A worker on memory:// passes the hostile-queue contract (garbage rejected, never run)."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing.hostile import HostileQueueContract


class TestMemoryHostileQueue(HostileQueueContract):
    """Garbage on an in-process hub's queue, event channel and reply channels."""

    reclaim_min_idle_ms = 500

    @pytest.fixture
    def broker_url(self) -> str:
        """An in-process hub unique to the test."""
        return f"memory://hostile-{uuid.uuid4().hex}"

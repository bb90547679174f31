"""A real fleet on Redis: `murmur worker start` processes serving a caller in this process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from murmur.testing import require_service
from murmur.testing.fleet_processes import ProcessFleetScenarios

pytestmark = pytest.mark.services

HOST, PORT = "127.0.0.1", 6379


class TestRedisWorkerProcesses(ProcessFleetScenarios):
    """Worker processes on Redis Streams; a SIGKILLed worker's tasks are claimed by the
    survivor (`XAUTOCLAIM`) after the reclaim window."""

    @pytest.fixture
    def broker_url(self) -> Iterator[str]:
        """A namespace unique to the test; its keys are deleted afterwards."""
        import redis

        require_service("Redis", HOST, PORT)
        namespace = f"test-{uuid.uuid4().hex}"
        yield f"redis://{HOST}:{PORT}/0?namespace={namespace}"
        client = redis.Redis(host=HOST, port=PORT, db=0)
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()

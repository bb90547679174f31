"""A real fleet on RabbitMQ: `murmur worker start` processes serving a caller."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing import require_service
from murmur.testing.fleet_processes import ProcessFleetScenarios

from .test_rabbitmq_transport import HOST, PORT

pytestmark = pytest.mark.services


class TestRabbitWorkerProcesses(ProcessFleetScenarios):
    """Worker processes on RabbitMQ; a SIGKILLed worker's tasks are requeued at once."""

    @pytest.fixture
    def broker_url(self) -> str:
        """A namespace unique to the test; its queues expire once unused."""
        require_service("RabbitMQ", HOST, PORT)
        namespace = f"test-{uuid.uuid4().hex[:16]}"
        return f"amqp://guest:guest@{HOST}:{PORT}/?namespace={namespace}&queue_expires_ms=60000"

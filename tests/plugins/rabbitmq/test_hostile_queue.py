"""A RabbitMQ worker passes the hostile-queue contract, on quorum and classic queues."""

from __future__ import annotations

import pytest

from murmur.testing.hostile import HostileQueueContract

from .test_rabbitmq_transport import amqp_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.services


class TestRabbitHostileQueue(HostileQueueContract):
    """Garbage on a quorum queue, the fleet exchange and a reply queue."""

    @pytest.fixture
    def broker_url(self, amqp_url: str) -> str:  # noqa: F811 - the imported fixture
        """The test's AMQP URL (its queues expire once unused)."""
        return amqp_url

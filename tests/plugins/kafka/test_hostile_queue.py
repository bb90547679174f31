"""A Kafka worker passes the hostile-queue contract (mock cluster, or a real one)."""

from __future__ import annotations

import pytest

from murmur.testing.hostile import HostileQueueContract

from .test_kafka_transport import _url

pytestmark = pytest.mark.services


class TestKafkaHostileQueue(HostileQueueContract):
    """Garbage on an agent topic, the fleet events topic and a caller's results."""

    @pytest.fixture
    def broker_url(self, kafka_bootstrap: str) -> str:
        """A namespace unique to the test."""
        return _url(kafka_bootstrap)

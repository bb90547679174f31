"""Failures on RabbitMQ are typed results naming the broker (password redacted)."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing import require_service

from .._failures import SECRET, BrokerFailureScenarios
from .test_rabbitmq_transport import HOST, PORT

pytestmark = pytest.mark.services


class TestRabbitFailures(BrokerFailureScenarios):
    """RabbitMQ: broker down, no worker."""

    @pytest.fixture
    def broker_url(self) -> str:
        """A live broker, a namespace of the test's own."""
        require_service("RabbitMQ", HOST, PORT)
        namespace = f"fail-{uuid.uuid4().hex[:12]}"
        return f"amqp://guest:guest@{HOST}:{PORT}/?namespace={namespace}&queue_expires_ms=60000"

    @pytest.fixture
    def dead_url(self) -> str:
        """Nothing listens on port 1."""
        return f"amqp://guest:{SECRET}@127.0.0.1:1/"

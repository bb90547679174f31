"""Failures on Kafka are typed results naming the broker (password redacted)."""

from __future__ import annotations

import pytest

from .._failures import SECRET, BrokerFailureScenarios
from .test_kafka_transport import _url

pytestmark = pytest.mark.services


class TestKafkaFailures(BrokerFailureScenarios):
    """Kafka: broker down (librdkafka retries quietly; the connect bound ends it), no worker."""

    @pytest.fixture
    def broker_url(self, kafka_bootstrap: str) -> str:
        """A namespace unique to the test."""
        return _url(kafka_bootstrap)

    @pytest.fixture
    def dead_url(self) -> str:
        """Nothing listens on port 1; SASL credentials in the URL's user info."""
        return f"kafka://murmur:{SECRET}@127.0.0.1:1?namespace=dead"

"""Soak on Kafka: one runtime, 2 worker processes, thousands of runs, nothing leaked."""

from __future__ import annotations

import pytest

from .._soak import FleetSoakScenarios
from .test_kafka_transport import _classic, _url

pytestmark = pytest.mark.services


class TestKafkaSoak(FleetSoakScenarios):
    """On librdkafka's mock cluster (or MURMUR_KAFKA_BOOTSTRAP)."""

    @pytest.fixture
    def broker_url(self, kafka_bootstrap: str) -> str:
        """A namespace unique to the test."""
        return _url(kafka_bootstrap, **_classic())

"""A real fleet on Kafka: `murmur worker start` processes serving a caller."""

from __future__ import annotations

import pytest

from murmur.testing.fleet_processes import ProcessFleetScenarios

from .test_kafka_transport import _classic, _url

pytestmark = pytest.mark.services


class TestKafkaWorkerProcesses(ProcessFleetScenarios):
    """Worker processes in a consumer group (classic protocol, the default); a SIGKILLed
    worker's partitions are re-read by the survivor after its session times out."""

    @pytest.fixture
    def broker_url(self, kafka_bootstrap: str) -> str:
        """A namespace unique to the test."""
        return _url(kafka_bootstrap, **_classic())

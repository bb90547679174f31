"""A Kafka for the tests: librdkafka's in-process mock cluster, or `MURMUR_KAFKA_BOOTSTRAP`."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from murmur.testing import require_service


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers: a real cluster when MURMUR_KAFKA_BOOTSTRAP is set, else a mock
    cluster living in this test process (reachable over TCP by worker subprocesses too)."""
    real = os.environ.get("MURMUR_KAFKA_BOOTSTRAP")
    if real:
        host, _, port = real.split(",")[0].rpartition(":")
        require_service("Kafka", host or "127.0.0.1", int(port or 9092))
        yield real
        return
    from confluent_kafka import Producer

    cluster = Producer(
        {"test.mock.num.brokers": 1, "logger": logging.getLogger("tests.kafka.mock")}
    )
    metadata = cluster.list_topics(timeout=10)
    yield ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
    cluster.flush(1)  # keeps the mock cluster alive until the session ends


def kafka_is_mock() -> bool:
    """True when the tests run against the mock cluster."""
    return not os.environ.get("MURMUR_KAFKA_BOOTSTRAP")

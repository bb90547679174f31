"""One trace per request across worker processes, on every broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from murmur.testing import require_service

from ..kafka.conftest import kafka_bootstrap  # noqa: F401 - the session's Kafka fixture
from ..kafka.test_kafka_transport import _url as kafka_url
from ..nats.test_nats_transport import _drop_namespace
from ..rabbitmq.test_rabbitmq_transport import HOST as RABBIT_HOST
from ..rabbitmq.test_rabbitmq_transport import PORT as RABBIT_PORT
from ._fleet_traces import FleetTraceScenario

pytestmark = pytest.mark.services


class RedisBroker:
    """A Redis Streams broker URL per test."""

    @pytest.fixture
    def broker_url(self) -> Iterator[str]:
        """A namespace unique to the test; its keys are deleted afterwards."""
        require_service("Redis", "127.0.0.1", 6379)
        namespace = f"test-{uuid.uuid4().hex}"
        yield f"redis://127.0.0.1:6379/0?namespace={namespace}"
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379)
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


class TestRedisFleetTrace(RedisBroker, FleetTraceScenario):
    """Redis Streams."""


class TestNatsFleetTrace(FleetTraceScenario):
    """NATS JetStream."""

    @pytest.fixture
    async def broker_url(self) -> AsyncIterator[str]:
        """A namespace unique to the test; its streams are deleted afterwards."""
        require_service("NATS", "127.0.0.1", 4222)
        namespace = f"test-{uuid.uuid4().hex[:16]}"
        yield f"nats://127.0.0.1:4222?namespace={namespace}"
        await asyncio.wait_for(_drop_namespace(namespace), 30)


class TestRabbitFleetTrace(FleetTraceScenario):
    """RabbitMQ."""

    @pytest.fixture
    def broker_url(self) -> str:
        """A namespace unique to the test; its queues expire once unused."""
        require_service("RabbitMQ", RABBIT_HOST, RABBIT_PORT)
        namespace = f"test-{uuid.uuid4().hex[:16]}"
        return (
            f"amqp://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/?namespace={namespace}"
            "&queue_expires_ms=60000"
        )


class TestKafkaFleetTrace(FleetTraceScenario):
    """Kafka (librdkafka's mock cluster, or MURMUR_KAFKA_BOOTSTRAP)."""

    @pytest.fixture
    def broker_url(self, kafka_bootstrap: str) -> str:  # noqa: F811
        """A namespace unique to the test."""
        return kafka_url(kafka_bootstrap)

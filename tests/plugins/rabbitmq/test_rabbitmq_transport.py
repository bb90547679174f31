"""murmur-rabbitmq passes the transport and backend contract suites against a real RabbitMQ."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing import require_service
from murmur.testing.backend import BrokerBackendContract
from murmur.testing.transport import TransportContract

from .._killed_consumer import killed_holder_hands_over

pytestmark = pytest.mark.services

HOST, PORT = "127.0.0.1", 5672


@pytest.fixture
def amqp_url() -> str:
    """An AMQP URL whose namespace is unique to the test; its queues expire once unused."""
    require_service("RabbitMQ", HOST, PORT)
    namespace = f"test-{uuid.uuid4().hex[:16]}"
    return f"amqp://guest:guest@{HOST}:{PORT}/?namespace={namespace}&queue_expires_ms=60000"


class TestRabbitTransport(TransportContract):
    """RabbitTransport: quorum queues, manual ack, prefetch, requeue on channel loss."""

    fleet_wide_nonces = False  # RabbitMQ has no shared store: nonces are per worker process

    @pytest.fixture
    def transport_url(self, amqp_url: str) -> str:
        """The test's AMQP URL."""
        return amqp_url


class TestRabbitTransportClassicQueues(TransportContract):
    """The same contract with classic queues (a redelivered flag instead of a count)."""

    fleet_wide_nonces = False

    @pytest.fixture
    def transport_url(self, amqp_url: str) -> str:
        """The test's AMQP URL, classic queues."""
        return amqp_url + "&queue_type=classic"


class TestRabbitFleet(BrokerBackendContract):
    """JobBackend + Worker over RabbitMQ: the same contract as in-process, plus the fleet's."""

    @pytest.fixture
    def broker_url(self, amqp_url: str) -> str:
        """The test's AMQP URL."""
        return amqp_url


def test_amqp_urls_resolve_to_a_job_backend_over_rabbitmq() -> None:
    """amqp:// and amqps:// select murmur-rabbitmq; murmur's options leave the AMQP URL."""
    from murmur_rabbitmq import RabbitTransport

    from murmur import AgentRuntime
    from murmur.backends import JobBackend

    for url in ("amqp://u:p@h:5672/v?namespace=x&heartbeat=5", "amqps://u:p@h:5671/"):
        runtime = AgentRuntime(broker=url)
        assert isinstance(runtime.backend, JobBackend)
        assert isinstance(runtime.backend.transport, RabbitTransport)
    backend = AgentRuntime(broker="amqp://u:p@h:5672/v?namespace=x&heartbeat=5").backend
    assert isinstance(backend, JobBackend)
    transport = backend.transport
    assert isinstance(transport, RabbitTransport)
    assert (transport.namespace, transport.amqp_url) == ("x", "amqp://u:p@h:5672/v?heartbeat=5")


async def test_a_killed_workers_task_is_requeued_when_its_connection_dies(amqp_url: str) -> None:
    """A worker SIGKILLed mid-task: RabbitMQ requeues its un-acked task for another consumer."""
    await killed_holder_hands_over(amqp_url, window_ms=30_000, settle_s=15)


def test_the_public_api_is_exactly_the_transport_and_its_entry_point() -> None:
    """The plugin exports only its transport, its entry-point factory and its constants."""
    import murmur_rabbitmq

    assert sorted(murmur_rabbitmq.__all__) == [
        "EVENTS_EXCHANGE",
        "RabbitTransport",
        "backend_factory",
    ]
    assert all(hasattr(murmur_rabbitmq, name) for name in murmur_rabbitmq.__all__)

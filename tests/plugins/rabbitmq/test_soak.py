"""Soak on RabbitMQ: one runtime, 2 worker processes, thousands of runs, nothing leaked."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing import require_service
from murmur.testing.soak import Probe

from .._soak import FleetSoakScenarios
from .test_rabbitmq_transport import HOST, PORT

pytestmark = pytest.mark.services


class TestRabbitSoak(FleetSoakScenarios):
    """Quorum task queues drain to zero after every round."""

    @pytest.fixture
    def broker_url(self) -> str:
        """A namespace unique to the test; its queues expire once unused."""
        require_service("RabbitMQ", HOST, PORT)
        namespace = f"soak-{uuid.uuid4().hex[:12]}"
        return f"amqp://guest:guest@{HOST}:{PORT}/?namespace={namespace}&queue_expires_ms=60000"

    def broker_probe(self, broker_url: str) -> Probe:
        """Ready plus unacknowledged messages in the agent's task queue."""
        from murmur_rabbitmq import RabbitTransport

        queue = RabbitTransport(broker_url)._task_queue("doubler")

        async def probe() -> dict[str, int]:
            import aio_pika

            connection = await aio_pika.connect(f"amqp://guest:guest@{HOST}:{PORT}/")
            try:
                channel = await connection.channel()
                declared = await channel.declare_queue(queue, passive=True)
                backlog = declared.declaration_result.message_count or 0
            finally:
                await connection.close()
            return {"task_backlog": backlog}

        return probe

"""A real fleet on NATS JetStream: `murmur worker start` processes serving a caller."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from murmur.testing import require_service
from murmur.testing.fleet_processes import ProcessFleetScenarios

from .test_nats_transport import HOST, PORT, _drop_namespace

pytestmark = pytest.mark.services


class TestNatsWorkerProcesses(ProcessFleetScenarios):
    """Worker processes on NATS; a SIGKILLed worker's tasks come back after the ack wait."""

    @pytest.fixture
    async def broker_url(self) -> AsyncIterator[str]:
        """A namespace unique to the test; its streams are deleted afterwards."""
        require_service("NATS", HOST, PORT)
        namespace = f"test-{uuid.uuid4().hex[:16]}"
        yield f"nats://{HOST}:{PORT}?namespace={namespace}"
        await asyncio.wait_for(_drop_namespace(namespace), 30)

"""Soak on NATS JetStream: one runtime, 2 worker processes, thousands of runs, nothing
leaked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from murmur.testing import require_service
from murmur.testing.soak import Probe

from .._soak import FleetSoakScenarios
from .test_nats_transport import HOST, PORT, _drop_namespace

pytestmark = pytest.mark.services


class TestNatsSoak(FleetSoakScenarios):
    """The work-queue streams are empty again after every round."""

    @pytest.fixture
    async def broker_url(self) -> AsyncIterator[str]:
        """A namespace unique to the test; its streams are deleted afterwards."""
        require_service("NATS", HOST, PORT)
        namespace = f"soak-{uuid.uuid4().hex[:12]}"
        yield f"nats://{HOST}:{PORT}?namespace={namespace}"
        await asyncio.wait_for(_drop_namespace(namespace), 30)

    def broker_probe(self, broker_url: str) -> Probe:
        """Messages left in the namespace's streams (task queues) and server connections."""
        namespace = broker_url.rpartition("namespace=")[2]

        async def probe() -> dict[str, int]:
            import nats

            client = await nats.connect(f"nats://{HOST}:{PORT}", connect_timeout=5)
            try:
                backlog = 0
                for info in await client.jsm().streams_info():
                    if namespace in (info.config.name or "") and "nonce" not in (
                        info.config.name or ""
                    ):
                        backlog += info.state.messages
            finally:
                await client.close()
            return {"task_backlog": backlog}

        return probe

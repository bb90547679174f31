"""A Redis worker passes the hostile-queue contract; a stream entry without a payload counts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from murmur.testing import require_service
from murmur.testing.hostile import Bed, HostileQueueContract

from .test_redis_transport import HOST, PORT, _drop_namespace

pytestmark = pytest.mark.services


class TestRedisHostileQueue(HostileQueueContract):
    """Garbage on a Redis stream, the fleet pub/sub channel and a reply stream."""

    @pytest.fixture
    def broker_url(self) -> Iterator[str]:
        """A Redis URL whose namespace is unique to the test; its keys are deleted afterwards."""
        require_service("Redis", HOST, PORT)
        namespace = f"test-hostile-{uuid.uuid4().hex}"
        yield f"redis://{HOST}:{PORT}/0?namespace={namespace}"
        _drop_namespace(namespace)

    async def test_an_entry_without_a_payload_is_rejected_as_malformed(
        self, broker_url: str
    ) -> None:
        """A stream entry written with raw XADD and no `d` field is rejected and counted."""
        bed = await Bed.open(broker_url, self)
        try:
            from murmur_redis import RedisTransport

            transport = await bed.raw()
            assert isinstance(transport, RedisTransport)
            stream = transport.name("tasks", bed.agent.name)
            await transport.client.xadd(stream, {"x": b"no payload"})
            bed.garbage += 1
            await bed.run_valid(self)
            await bed.drained(self)
            assert bed.worker.stats.rejected_reasons == {"malformed": 1}
        finally:
            await bed.fleet.aclose()

"""A NATS JetStream worker passes the hostile-queue contract."""

from __future__ import annotations

import pytest

from murmur.testing.hostile import HostileQueueContract

from .test_nats_transport import nats_url  # noqa: F401 - the fixture

pytestmark = pytest.mark.services


class TestNatsHostileQueue(HostileQueueContract):
    """Garbage on a JetStream work queue, the fleet subject and a reply subject."""

    @pytest.fixture
    def broker_url(self, nats_url: str) -> str:  # noqa: F811 - the imported fixture
        """The test's NATS URL (its streams are deleted afterwards)."""
        return nats_url

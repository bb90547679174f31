"""Failures on NATS are typed results naming the broker (password redacted)."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing import require_service

from .._failures import SECRET, BrokerFailureScenarios
from .test_nats_transport import HOST, PORT

pytestmark = pytest.mark.services


class TestNatsFailures(BrokerFailureScenarios):
    """NATS: broker down, no worker."""

    @pytest.fixture
    def broker_url(self) -> str:
        """A live broker, a namespace of the test's own."""
        require_service("NATS", HOST, PORT)
        return f"nats://{HOST}:{PORT}?namespace=fail-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def dead_url(self) -> str:
        """Nothing listens on port 1."""
        return f"nats://murmur:{SECRET}@127.0.0.1:1"

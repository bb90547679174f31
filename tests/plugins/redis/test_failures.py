"""Failures on Redis are typed results naming the broker (password redacted)."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing import require_service

from .._failures import SECRET, BrokerFailureScenarios

pytestmark = pytest.mark.services

HOST, PORT = "127.0.0.1", 6379


class TestRedisFailures(BrokerFailureScenarios):
    """Redis: broker down, no worker."""

    @pytest.fixture
    def broker_url(self) -> str:
        """A live broker, a namespace of the test's own."""
        require_service("Redis", HOST, PORT)
        return f"redis://{HOST}:{PORT}/0?namespace=fail-{uuid.uuid4().hex[:12]}"

    @pytest.fixture
    def dead_url(self) -> str:
        """Nothing listens on port 1."""
        return f"redis://murmur:{SECRET}@127.0.0.1:1/0"

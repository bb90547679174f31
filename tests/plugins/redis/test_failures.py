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

    async def test_a_refused_publish_fails_at_once_with_a_typed_error(
        self, broker_url: str
    ) -> None:
        """A task stream that is a string key (WRONGTYPE): the publish is refused, not retried
        for `publish_retry_s`; the run fails with `broker_error`, not transient."""
        from redis.asyncio import Redis

        from murmur import AgentRuntime, RuntimeOptions, TaskSpec
        from murmur.testing.fleet_processes import Number, doubler

        namespace = broker_url.rpartition("namespace=")[2]
        client = Redis(host=HOST, port=PORT)
        await client.set(f"{namespace}:tasks:doubler", "not a stream")
        try:
            options = RuntimeOptions(timeout_seconds=60)
            async with AgentRuntime(options, broker=broker_url) as runtime:
                result = await runtime.run(doubler, TaskSpec(input=Number(n=1)))
        finally:
            await client.delete(f"{namespace}:tasks:doubler")
            await client.aclose()
        assert result.error is not None
        assert result.error.code == "broker_error"
        assert result.error.details["transient"] is False
        assert "was refused" in str(result.error)  # at once: not "kept failing for 30s"
        assert "WRONGTYPE" in str(result.error)

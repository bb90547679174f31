"""murmur-redis passes the transport and backend contract suites against a real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from murmur.testing import require_service
from murmur.testing.backend import BrokerBackendContract
from murmur.testing.transport import TransportContract

pytestmark = pytest.mark.services

HOST, PORT = "127.0.0.1", 6379


def _drop_namespace(namespace: str) -> None:
    import redis

    client = redis.Redis(host=HOST, port=PORT, db=0)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis URL whose namespace is unique to the test; its keys are deleted afterwards."""
    require_service("Redis", HOST, PORT)
    namespace = f"test-{uuid.uuid4().hex}"
    yield f"redis://{HOST}:{PORT}/0?namespace={namespace}"
    _drop_namespace(namespace)


class TestRedisTransport(TransportContract):
    """RedisTransport: streams, consumer groups, XAUTOCLAIM reclaim, pub/sub events."""

    @pytest.fixture
    def transport_url(self, redis_url: str) -> str:
        """The test's Redis URL."""
        return redis_url


class TestRedisFleet(BrokerBackendContract):
    """JobBackend + Worker over Redis: the same contract as in-process, plus the fleet's."""

    @pytest.fixture
    def broker_url(self, redis_url: str) -> str:
        """The test's Redis URL."""
        return redis_url


def test_redis_urls_resolve_to_a_job_backend_over_redis() -> None:
    """redis:// and rediss:// select murmur-redis through the plugin host."""
    from murmur_redis import RedisTransport

    from murmur import AgentRuntime
    from murmur.backends import JobBackend

    for url in ("redis://127.0.0.1:6379/0?namespace=x", "rediss://example:6380/0"):
        backend = AgentRuntime(broker=url).backend
        assert isinstance(backend, JobBackend)
        assert isinstance(backend.transport, RedisTransport)
        assert url.endswith("x") == (backend.transport.namespace == "x")


async def test_closing_the_runtime_releases_the_redis_connection(redis_url: str) -> None:
    """`async with AgentRuntime(broker=...)` connects on entry and disconnects on exit."""
    from murmur_redis import RedisTransport

    from murmur import AgentRuntime
    from murmur.backends import JobBackend

    async with AgentRuntime(broker=redis_url) as runtime:
        backend = runtime.backend
        assert isinstance(backend, JobBackend)
        transport = backend.transport
        assert isinstance(transport, RedisTransport)
        assert await transport.client.ping()
    assert transport._client is None

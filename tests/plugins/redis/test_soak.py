"""Soak on Redis: one runtime, 2 worker processes, thousands of runs, nothing leaked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest

from murmur.testing import require_service
from murmur.testing.soak import Probe

from .._soak import FleetSoakScenarios

pytestmark = pytest.mark.services

HOST, PORT = "127.0.0.1", 6379


class TestRedisSoak(FleetSoakScenarios):
    """The caller's connections are bounded (a pool, not one per in-flight run)."""

    # Each process's command pool opens connections lazily up to its cap (16), so the count
    # may still creep up after warm-up, never past 3 processes x (16 + readers); a reply
    # stream is trimmed in batches of 256 entries.
    soak_slack: ClassVar[dict[str, int]] = {"redis_clients": 12, "reply_entries": 512}

    @pytest.fixture
    async def broker_url(self) -> AsyncIterator[str]:
        """A namespace unique to the test; its keys are deleted afterwards."""
        require_service("Redis", HOST, PORT)
        namespace = f"soak-{uuid.uuid4().hex[:12]}"
        yield f"redis://{HOST}:{PORT}/0?namespace={namespace}"
        from redis.asyncio import Redis

        client = Redis(host=HOST, port=PORT)
        keys = [k async for k in client.scan_iter(f"{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()

    def broker_probe(self, broker_url: str) -> Probe:
        """Connections named after the namespace (caller and workers), queued task entries,
        and reply streams left on the server."""
        namespace = broker_url.rpartition("namespace=")[2]

        async def probe() -> dict[str, int]:
            from redis.asyncio import Redis

            client = Redis(host=HOST, port=PORT)
            try:
                clients = await client.client_list()
                named = sum(1 for c in clients if c.get("name") == f"murmur:{namespace}")
                backlog = 0
                async for key in client.scan_iter(f"{namespace}:tasks:*"):
                    backlog += await client.xlen(key)
                replies = [k async for k in client.scan_iter(f"{namespace}:replies:*")]
                reply_entries = sum([await client.xlen(k) for k in replies])
            finally:
                await client.aclose()
            assert named <= 3 * (16 + 2), f"{named} connections: the pools are not bounded"
            return {
                "redis_clients": named,
                "task_backlog": backlog,
                "reply_streams": len(replies),
                "reply_entries": reply_entries,
            }

        return probe


async def _named_clients(namespace: str) -> int:
    from redis.asyncio import Redis

    client = Redis(host=HOST, port=PORT)
    try:
        return sum(1 for c in await client.client_list() if c.get("name") == f"murmur:{namespace}")
    finally:
        await client.aclose()


async def test_closed_reply_subscriptions_give_their_connections_back() -> None:
    """Each reply subscription reads on a dedicated connection; closing it closes that
    connection, so subscribing again and again does not pile connections up."""
    import asyncio
    import time

    from murmur_redis import RedisTransport

    require_service("Redis", HOST, PORT)
    namespace = f"readers-{uuid.uuid4().hex[:12]}"
    transport = RedisTransport(f"redis://{HOST}:{PORT}/0?namespace={namespace}")
    await transport.connect()
    try:
        subscriptions = [await transport.subscribe_results(f"caller-{i}") for i in range(5)]
        deadline = time.monotonic() + 10
        while await _named_clients(namespace) < 6:  # 5 readers + the command pool's first
            assert time.monotonic() < deadline, "the readers never connected"
            await asyncio.sleep(0.05)
        for subscription in subscriptions:
            await subscription.aclose()
        assert await _named_clients(namespace) <= 1
    finally:
        await transport.close()
    assert await _named_clients(namespace) == 0

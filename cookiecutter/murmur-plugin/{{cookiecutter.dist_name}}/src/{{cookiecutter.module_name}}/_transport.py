"""`{{ cookiecutter.entry_name }}://`: a broker transport.

As baked, it wraps murmur's in-process `MemoryTransport`, so it works (and passes the
transport contract suite) before you connect it to anything. Replace each `self._inner`
call with your broker client's: the docstrings of `murmur.transport.Transport` say what
each method must guarantee, and `murmur.testing.transport.TransportContract` checks it.
Envelopes, signing, retries, dedup and the worker loop are murmur's: a transport only
moves bytes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from murmur.transport import MemoryTransport, Subscription, TaskConsumer, Transport, redact_url

__all__ = ["{{ cookiecutter.__class_prefix }}Transport"]


class {{ cookiecutter.__class_prefix }}Transport(Transport):
    """Moves task, result and event bytes over `{{ cookiecutter.entry_name }}://<fleet>`.

    Every transport with the same URL host shares one in-process broker.

    Args:
        url: `{{ cookiecutter.entry_name }}://<fleet>[?namespace=...]`.
        namespace: Prefix of every broker-side name (overrides the URL's).
        **options: Transport options (kept in `self.options`).
    """

    scheme = "{{ cookiecutter.entry_name }}"

    def __init__(self, url: str, *, namespace: str | None = None, **options: Any) -> None:
        super().__init__(url, namespace=namespace, **options)
        fleet = urlsplit(url).netloc or "default"
        # Your client goes here; create it in connect(), not at import time.
        self._inner = MemoryTransport(f"memory://{self.scheme}-{fleet}", namespace=self.namespace)

    def __repr__(self) -> str:
        # A URL may carry a password: never print it.
        return f"{type(self).__name__}({redact_url(self.url)!r})"

    async def connect(self) -> None:
        """Connect (idempotent)."""
        await self._inner.connect()

    async def close(self) -> None:
        """Close every consumer, subscription and connection (idempotent)."""
        await self._inner.close()

    async def publish_task(self, agent_name: str, data: bytes) -> None:
        """Append one task to `agent_name`'s queue."""
        await self._inner.publish_task(agent_name, data)

    async def consume_tasks(
        self, agent_name: str, *, consumer_id: str, prefetch: int, reclaim_min_idle_ms: int
    ) -> TaskConsumer:
        """Join `agent_name`'s competing-consumer group as `consumer_id`."""
        return await self._inner.consume_tasks(
            agent_name,
            consumer_id=consumer_id,
            prefetch=prefetch,
            reclaim_min_idle_ms=reclaim_min_idle_ms,
        )

    async def publish_result(self, reply_to: str, data: bytes) -> None:
        """Send one frame to the caller subscribed to `reply_to`."""
        await self._inner.publish_result(reply_to, data)

    async def subscribe_results(self, reply_to: str) -> Subscription:
        """Subscribe to the reply channel `reply_to`."""
        return await self._inner.subscribe_results(reply_to)

    async def publish_event(self, data: bytes) -> None:
        """Broadcast one frame on the fleet event channel."""
        await self._inner.publish_event(data)

    async def subscribe_events(self) -> Subscription:
        """Subscribe to the fleet event channel."""
        return await self._inner.subscribe_events()

    async def heartbeat(self, consumer_id: str, info: dict[str, Any], ttl_s: float) -> None:
        """Record that `consumer_id` is alive for `ttl_s` seconds."""
        await self._inner.heartbeat(consumer_id, info, ttl_s)

    async def claim_nonce(self, nonce: str, message_id: str, *, ttl_s: float) -> bool:
        """Refuse a replayed envelope fleet-wide (the in-process broker shares nonces)."""
        return await self._inner.claim_nonce(nonce, message_id, ttl_s=ttl_s)

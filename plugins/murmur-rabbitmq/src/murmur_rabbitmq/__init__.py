"""RabbitMQ broker for murmur: `AgentRuntime(broker="amqp://guest:guest@127.0.0.1:5672/")`.

Tasks live in one durable queue per agent (a quorum queue by default), consumed by every
worker of that agent with manual acks and a prefetch equal to the worker's concurrency. A
worker that dies (SIGKILL, lost connection) leaves its un-acked messages to RabbitMQ, which
requeues them for the other workers; a live worker that sits on a delivery past the reclaim
window gives up its channel the same way. Replies travel on exclusive per-caller queues,
fleet events on `amq.topic`. Envelopes, signing, correlation and the worker loop are
murmur's (`JobBackend`, `Worker`): this plugin only supplies the `Transport`.
"""

from __future__ import annotations

from murmur.transport import transport_backend_factory
from murmur_rabbitmq._transport import EVENTS_EXCHANGE, RabbitTransport

__all__ = ["EVENTS_EXCHANGE", "RabbitTransport", "backend_factory"]

backend_factory = transport_backend_factory(RabbitTransport)
"""The `murmur.backends` entry point for `amqp://` and `amqps://` URLs."""

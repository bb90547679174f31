"""NATS JetStream broker for murmur: `AgentRuntime(broker="nats://127.0.0.1:4222")`.

Tasks live in one JetStream work-queue stream per agent, pulled by every worker of that
agent from one shared durable consumer; a message a worker does not ack within the ack
wait (the worker's `reclaim_min_idle_ms`) is redelivered by the server to another worker.
Replies and fleet events travel on core NATS subjects; nonces of signed envelopes are
claimed in a JetStream KV bucket, so a replay is refused fleet-wide. Envelopes, signing,
correlation and the worker loop are murmur's (`JobBackend`, `Worker`): this plugin only
supplies the `Transport`.
"""

from __future__ import annotations

from murmur.transport import transport_backend_factory
from murmur_nats._transport import DURABLE, NatsTransport

__all__ = ["DURABLE", "NatsTransport", "backend_factory"]

backend_factory = transport_backend_factory(NatsTransport)
"""The `murmur.backends` entry point for `nats://` URLs (a `JobBackend` over `NatsTransport`)."""

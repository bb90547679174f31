"""Kafka broker for murmur (confluent-kafka): `AgentRuntime(broker="kafka://127.0.0.1:9092")`.

Tasks of an agent are records on its topic, read by the agent's consumer group; a worker
commits a partition's offset only past tasks it has finished, so a worker that dies leaves
its partitions, after the group rebalances, to another worker that re-reads everything not
yet committed. Results travel on a keyed results topic (each caller reads its own
partition), fleet events on a one-partition events topic. Envelopes, signing, correlation
and the worker loop are murmur's (`JobBackend`, `Worker`): this plugin only supplies the
`Transport`.
"""

from __future__ import annotations

from murmur.transport import transport_backend_factory
from murmur_kafka._transport import KafkaTransport

__all__ = ["KafkaTransport", "backend_factory"]

backend_factory = transport_backend_factory(KafkaTransport)
"""The `murmur.backends` entry point for `kafka://` URLs (a `JobBackend` over `KafkaTransport`)."""

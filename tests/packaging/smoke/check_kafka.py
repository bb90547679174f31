"""murmur-kafka alone on murmur-core: one task through a worker process, on librdkafka's
mock cluster (living in this process, reachable over TCP by the worker)."""

from __future__ import annotations

import logging
import uuid

from _smoke import one_task_through_a_worker_process, plugins_ok
from confluent_kafka import Producer

plugins_ok("murmur-kafka")
cluster = Producer({"test.mock.num.brokers": 1, "logger": logging.getLogger("mock")})
bootstrap = ",".join(f"{b.host}:{b.port}" for b in cluster.list_topics(timeout=10).brokers.values())
# The mock cluster answers fetches only at fetch.wait.max.ms and runs KIP-848 groups.
url = (
    f"kafka://{bootstrap}?namespace=matrix-{uuid.uuid4().hex[:12]}"
    "&fetch_wait_max_ms=10&group_protocol=consumer"
)
one_task_through_a_worker_process(url)
cluster.flush(1)
print("murmur-kafka: one task through a worker process on the mock cluster")

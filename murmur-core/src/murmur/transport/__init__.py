"""The broker seam: a small `Transport` interface that every broker plugin implements.

Also the envelopes that travel over it (defined once, here: every frame is a model), their HMAC
signing, the event relay between workers and callers (`BrokerEventBridge`), and the in-process
`memory://` transport.

`JobBackend` (the Execute stage on a broker, also in `murmur.backends`) and `Worker`
(`murmur.worker`) are written once against `Transport`; a broker plugin supplies only a
`Transport` subclass and the entry point `transport_backend_factory(MyTransport)`. Every
transport passes the contract suite in `murmur.testing.transport`.
"""

from __future__ import annotations

from murmur.transport._base import (
    DEFAULT_NAMESPACE,
    Delivery,
    QueueSubscription,
    Subscription,
    TaskConsumer,
    Transport,
    redact_url,
    url_options,
)
from murmur.transport._consumer import BrokerTransport, HeldDeliveryConsumer
from murmur.transport._envelope import (
    CALLER_LIFECYCLE_EVENTS,
    ENVELOPE_VERSION,
    CancelFrame,
    EventFrame,
    ResultEnvelope,
    TaskEnvelope,
    decode_frame,
    encode_frame,
    new_nonce,
    traceparent_for,
)
from murmur.transport._factory import (
    JOB_BACKEND_OPTIONS,
    memory_backend_factory,
    resolve_transport,
    transport_backend_factory,
)
from murmur.transport._job import JobBackend
from murmur.transport._memory import MemoryTransport
from murmur.transport._relay import BrokerEventBridge, TaskRoute, current_route
from murmur.transport._replies import ReplyGrace
from murmur.transport._signing import EnvelopeSigner, SigningKeys, canonical, check_freshness

__all__ = [
    "CALLER_LIFECYCLE_EVENTS",
    "DEFAULT_NAMESPACE",
    "ENVELOPE_VERSION",
    "JOB_BACKEND_OPTIONS",
    "BrokerEventBridge",
    "BrokerTransport",
    "CancelFrame",
    "Delivery",
    "EnvelopeSigner",
    "EventFrame",
    "HeldDeliveryConsumer",
    "JobBackend",
    "MemoryTransport",
    "QueueSubscription",
    "ReplyGrace",
    "ResultEnvelope",
    "SigningKeys",
    "Subscription",
    "TaskConsumer",
    "TaskEnvelope",
    "TaskRoute",
    "Transport",
    "canonical",
    "check_freshness",
    "current_route",
    "decode_frame",
    "encode_frame",
    "memory_backend_factory",
    "new_nonce",
    "redact_url",
    "resolve_transport",
    "traceparent_for",
    "transport_backend_factory",
    "url_options",
]

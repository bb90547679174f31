"""Run and event stores: interfaces, the in-memory concretes, and the recording emitter.

Persistent stores are plugins selected by URL: `AgentRuntime(store="sqlite:///runs.db")`.
"""

from __future__ import annotations

from murmur.runs._base import (
    EventQuery,
    EventStore,
    RunRecord,
    RunStatus,
    RunStore,
    RunTree,
    Stores,
    build_tree,
    encode_event,
    encode_record,
)
from murmur.runs._buffer import Batch, WriteBuffer
from murmur.runs._emitter import StoreEventEmitter
from murmur.runs._memory import InMemoryEventStore, InMemoryRunStore, memory_store_factory
from murmur.runs._shared import SharedRunStoreUser, SharedStoreClient, SharedStoreUser
from murmur.runs._url import StoreURL, parse_store_url, url_flag

__all__ = [
    "Batch",
    "EventQuery",
    "EventStore",
    "InMemoryEventStore",
    "InMemoryRunStore",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "RunTree",
    "SharedRunStoreUser",
    "SharedStoreClient",
    "SharedStoreUser",
    "StoreEventEmitter",
    "StoreURL",
    "Stores",
    "WriteBuffer",
    "build_tree",
    "encode_event",
    "encode_record",
    "memory_store_factory",
    "parse_store_url",
    "url_flag",
]

"""The Redis stores pass the store contract suites on the real server, survive restarts,
and refuse a newer layout or foreign keys under their prefix."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from murmur_redis._store import (
    REDIS_STORE_SCHEMA_VERSION,
    RedisEventStore,
    RedisRunStore,
    RedisStoreClient,
    redis_store_factory,
)

from murmur import Agent, AgentRuntime
from murmur.core.errors import RegistryError
from murmur.events import EventType, MultiEventEmitter, NullEventEmitter, RuntimeEvent
from murmur.runs import EventStore, RunRecord, RunStore, StoreEventEmitter, Stores
from murmur.testing import require_service
from murmur.testing.store_exit import StoreExitContract
from murmur.testing.store_restart import StoreRestartScenario
from murmur.testing.stores import EventStoreContract, Reopen, RunStoreContract

HOST, PORT = "127.0.0.1", 6379
URL = f"redis://{HOST}:{PORT}/0"


async def _delete_prefix(prefix: str) -> None:
    from redis.asyncio import from_url

    client = from_url(URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix no other test uses, deleted afterwards."""
    require_service("Redis", HOST, PORT)
    value = f"murmur-test:{uuid.uuid4().hex}:"
    yield value
    await _delete_prefix(value)


class TestRedisRunStore(RunStoreContract):
    @pytest.fixture
    async def run_store(self, prefix: str) -> AsyncIterator[RunStore]:
        stores = redis_store_factory(f"{URL}?prefix={prefix}")
        yield stores.runs
        await stores.aclose()

    @pytest.fixture
    def reopen(self, prefix: str) -> Reopen[RunStore]:
        async def reopen(store: RunStore) -> RunStore:
            await store.aclose()
            return RedisRunStore(URL, prefix=prefix)

        return reopen


class TestRedisStoreExit(StoreExitContract):
    """50 programs per exit path share one prefix and never close their runtime."""

    preload = ("redis", "redis.asyncio")

    @pytest.fixture
    def store_url(self, prefix: str) -> str:
        return f"{URL}?prefix={prefix}"


class TestRedisEventStore(EventStoreContract):
    @pytest.fixture
    async def event_store(self, prefix: str) -> AsyncIterator[EventStore]:
        stores = redis_store_factory(f"{URL}?prefix={prefix}")
        yield stores.events
        await stores.aclose()

    @pytest.fixture
    def reopen(self, prefix: str) -> Reopen[EventStore]:
        async def reopen(store: EventStore) -> EventStore:
            await store.aclose()
            return RedisEventStore(URL, prefix=prefix)

        return reopen


class TestRedisStoreRestart(StoreRestartScenario):
    """One prefix; the never-closed writer flushes only at exit (a one-hour flush interval)."""

    @pytest.fixture
    def store_url(self, prefix: str) -> str:
        return f"{URL}?prefix={prefix}"

    @pytest.fixture
    def unclosed_store_url(self, store_url: str) -> str:
        return f"{store_url}&flush_interval=3600"


async def test_runtime_selects_redis_by_url_scheme(prefix: str) -> None:
    """AgentRuntime(store="redis://...?prefix=...") records into Redis under that prefix."""
    runtime = AgentRuntime(store=f"{URL}?prefix={prefix}&flush_interval=5")
    assert runtime.stores is not None
    assert isinstance(runtime.stores.runs, RedisRunStore)
    await runtime.stores.runs.put(RunRecord(run_id="r1"))
    await runtime.aclose()
    other = RedisRunStore(URL, prefix=prefix)
    stored = await other.get("r1")
    await other.aclose()
    assert stored is not None
    assert stored.run_id == "r1"


async def test_processes_sharing_a_prefix_see_each_others_writes(prefix: str) -> None:
    """Two clients on one prefix (two workers of a fleet) share runs and one event order."""
    client_a = RedisStoreClient(URL, prefix=prefix)
    client_b = RedisStoreClient(URL, prefix=prefix)
    first = Stores(runs=RedisRunStore(client_a), events=RedisEventStore(client_a))
    second = Stores(runs=RedisRunStore(client_b), events=RedisEventStore(client_b))
    a = RuntimeEvent(event_type=EventType.AGENT_SPAWNED, trace_id="a")
    b = RuntimeEvent(event_type=EventType.AGENT_SPAWNED, trace_id="b")
    await first.events.append(a)
    await first.runs.put(RunRecord(run_id="ra", created_at=1.0))
    await client_a.flush()
    await second.events.append(b)
    await second.runs.put(RunRecord(run_id="rb", created_at=2.0))
    assert await second.events.query() == [a, b]
    assert [r.run_id for r in await first.runs.list()] == ["rb", "ra"]
    await first.aclose()
    await second.aclose()


async def _raw(action: Callable[[Any], Any]) -> Any:
    from redis.asyncio import from_url

    client = from_url(URL)
    try:
        return await action(client)
    finally:
        await client.aclose()


async def test_a_newer_layout_is_refused(prefix: str) -> None:
    """A prefix written by a newer murmur-redis fails with store_schema_newer, untouched."""
    newer = REDIS_STORE_SCHEMA_VERSION + 1
    await _raw(lambda c: c.set(prefix + "schema_version", newer))
    store = RedisRunStore(URL, prefix=prefix)
    with pytest.raises(RegistryError) as info:
        await store.get("r1")
    assert info.value.code == "store_schema_newer"
    await store.aclose()


async def test_foreign_keys_under_the_prefix_are_reported_as_corrupt(prefix: str) -> None:
    """A key of the wrong type under the prefix gives store_corrupt, not a silent loss."""
    await _raw(lambda c: c.set(prefix + "ev:data", "not a hash"))
    store = RedisEventStore(URL, prefix=prefix)
    await store.append(RuntimeEvent(event_type=EventType.AGENT_SPAWNED, trace_id="t"))
    with pytest.raises(RegistryError) as info:
        await store.query()
    assert info.value.code == "store_corrupt"
    with pytest.raises(RegistryError):
        await store.aclose()  # the buffered event is still unwritten: closing says so


async def test_an_unreachable_server_is_a_typed_error() -> None:
    """A store URL pointing at no server fails with store_unavailable and the address."""
    store = RedisRunStore("redis://127.0.0.1:1/0", prefix="x:", timeout=2)
    with pytest.raises(RegistryError) as info:
        await store.get("r1")
    assert info.value.code == "store_unavailable"
    assert "127.0.0.1:1" in info.value.message
    await store.aclose()


def test_murmur_options_are_removed_from_the_url_redis_gets() -> None:
    """prefix/batch_size/flush_interval/timeout are murmur's; the rest goes to redis-py."""
    stores = redis_store_factory("redis://127.0.0.1:6379/2?prefix=app:&batch_size=7&timeout=3")
    assert isinstance(stores.runs, RedisRunStore)
    client = stores.runs.client
    assert (client.url, client.prefix, client.batch_size, client.timeout) == (
        "redis://127.0.0.1:6379/2",
        "app:",
        7,
        3.0,
    )
    with pytest.raises(RegistryError) as info:
        redis_store_factory("redis://127.0.0.1:6379/0?batch_size=lots")
    assert info.value.code == "invalid_url"


async def test_a_run_on_an_unreachable_server_fails_and_its_events_are_counted() -> None:
    """Redis down: the run fails with store_unavailable (never succeeds unrecorded); the
    events it emits cannot be appended, so they are logged and counted, never raised."""
    runtime = AgentRuntime(
        store="redis://127.0.0.1:1/0?timeout=1", event_emitter=NullEventEmitter()
    )
    result = await runtime.run(Agent(name="echo", model="test"), "hi")
    assert isinstance(result.error, RegistryError)
    assert result.error.code == "store_unavailable"
    await runtime.emit(RuntimeEvent(event_type=EventType.AGENT_SPAWNED, trace_id="t"))
    assert isinstance(runtime.event_emitter, MultiEventEmitter)
    recorder = runtime.event_emitter.emitters[-1]
    assert isinstance(recorder, StoreEventEmitter)
    assert recorder.failed == 1
    await runtime.aclose()


async def test_a_wrong_type_key_fails_the_run_and_writes_nothing(prefix: str) -> None:
    """A key of the wrong type under the prefix (store_corrupt) fails the run, and the
    failed batch writes nothing at all: no run hash, no index, no schema_version. Its
    events, which touch no run key, are written by a later batch."""
    await _raw(lambda c: c.set(prefix + "runs:all", "not a sorted set"))
    runtime = AgentRuntime(store=f"{URL}?prefix={prefix}", event_emitter=NullEventEmitter())
    result = await runtime.run(Agent(name="echo", model="test"), "hi")
    assert isinstance(result.error, RegistryError)
    assert result.error.code == "store_corrupt"

    async def keys() -> list[str]:
        found = await _raw(lambda c: c.keys(prefix + "*"))
        return sorted(k.decode().removeprefix(prefix) for k in found)

    # Only the events may have been written since (by a later batch, on its timer).
    assert [k for k in await keys() if not k.startswith("ev:")] == ["runs:all"]
    await runtime.aclose()
    after = await keys()
    assert [k for k in after if k.startswith(("run:", "runs:"))] == ["runs:all"]
    assert "ev:data" in after

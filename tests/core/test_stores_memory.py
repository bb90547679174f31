"""The in-memory run and event stores pass the store contract suites."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator

import pytest

from murmur.runs import (
    InMemoryEventStore,
    InMemoryRunStore,
    RunRecord,
    RunStatus,
    RunStore,
    memory_store_factory,
)
from murmur.testing.stores import EventStoreContract, RunStoreContract


class TestInMemoryRunStore(RunStoreContract):
    @pytest.fixture
    async def run_store(self) -> AsyncIterator[InMemoryRunStore]:
        store = InMemoryRunStore()
        yield store
        await store.aclose()


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    async def event_store(self) -> AsyncIterator[InMemoryEventStore]:
        store = InMemoryEventStore()
        yield store
        await store.aclose()


class _PlainRunStore(RunStore):
    """A run store that only implements the abstract methods (checkpoints use the default)."""

    def __init__(self) -> None:
        self._inner = InMemoryRunStore()

    async def put(self, record: RunRecord) -> None:
        await self._inner.put(record)

    async def get(self, run_id: str) -> RunRecord | None:
        return await self._inner.get(run_id)

    async def list(
        self,
        *,
        status: RunStatus | None = None,
        agent_name: str | None = None,
        parent_trace_id: str | None = None,
        kind: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[RunRecord]:
        return await self._inner.list(
            status=status,
            agent_name=agent_name,
            parent_trace_id=parent_trace_id,
            kind=kind,
            limit=limit,
            offset=offset,
        )


class TestDefaultCheckpoints(RunStoreContract):
    """A store without native checkpoints still passes, through the RunStore defaults."""

    @pytest.fixture
    async def run_store(self) -> AsyncIterator[RunStore]:
        store = _PlainRunStore()
        yield store
        await store.aclose()


async def test_default_checkpoint_needs_the_run_to_exist() -> None:
    """The default put_checkpoint refuses a run that was never stored, with a typed error."""
    from murmur.core.errors import RegistryError

    with pytest.raises(RegistryError) as info:
        await _PlainRunStore().put_checkpoint("ghost", "k", 1)
    assert info.value.code == "run_not_found"


def test_memory_url_gives_fresh_in_memory_stores() -> None:
    """`memory://` resolves to a new pair of in-memory stores each time."""
    first, second = memory_store_factory("memory://"), memory_store_factory("memory://")
    assert isinstance(first.runs, InMemoryRunStore)
    assert isinstance(first.events, InMemoryEventStore)
    assert first.runs is not second.runs


async def test_an_event_the_store_refuses_is_counted_and_never_fails_the_run() -> None:
    """An event the store cannot keep (not JSON) is logged and counted by the recording
    emitter; the runs around it succeed and are recorded."""
    from murmur import Agent, AgentRuntime
    from murmur.events import EventType, MultiEventEmitter, NullEventEmitter, RuntimeEvent
    from murmur.runs import StoreEventEmitter

    runtime = AgentRuntime(store="memory://", event_emitter=NullEventEmitter())
    agent = Agent(name="echo", model="test")
    assert (await runtime.run(agent, "before")).is_ok()
    await runtime.emit(
        RuntimeEvent(event_type=EventType.AGENT_SPAWNED, trace_id="t", payload={"x": object()})
    )
    after = await runtime.run(agent, "after")
    assert after.is_ok()
    assert isinstance(runtime.event_emitter, MultiEventEmitter)
    recorder = runtime.event_emitter.emitters[-1]
    assert isinstance(recorder, StoreEventEmitter)
    assert recorder.failed == 1
    assert runtime.stores is not None
    record = await runtime.stores.runs.get(after.trace_id)
    assert record is not None
    assert record.status is RunStatus.COMPLETED
    await runtime.aclose()

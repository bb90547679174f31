"""The `{{ cookiecutter.entry_name }}://` stores pass murmur's run and event store contracts, across reopening."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from murmur import Agent, AgentRuntime, TaskSpec
from murmur.runs import RunStatus
from murmur.testing.stores import EventStoreContract, RunStoreContract

from {{ cookiecutter.module_name }} import store_factory
from {{ cookiecutter.module_name }}._store import JsonLinesEventStore, JsonLinesRunStore


class TestRunStoreContract(RunStoreContract):
    """Every behaviour a run store must have (murmur.testing.stores)."""

    @pytest.fixture
    async def run_store(self, tmp_path: Path) -> AsyncIterator[JsonLinesRunStore]:
        store = JsonLinesRunStore(tmp_path / "runs.jsonl")
        yield store
        await store.aclose()

    @pytest.fixture
    def reopen(self, tmp_path: Path):
        async def reopen(store: JsonLinesRunStore) -> JsonLinesRunStore:
            await store.aclose()
            return JsonLinesRunStore(tmp_path / "runs.jsonl")

        return reopen


class TestEventStoreContract(EventStoreContract):
    """Every behaviour an event store must have (murmur.testing.stores)."""

    @pytest.fixture
    async def event_store(self, tmp_path: Path) -> AsyncIterator[JsonLinesEventStore]:
        store = JsonLinesEventStore(tmp_path / "events.jsonl")
        yield store
        await store.aclose()

    @pytest.fixture
    def reopen(self, tmp_path: Path):
        async def reopen(store: JsonLinesEventStore) -> JsonLinesEventStore:
            await store.aclose()
            return JsonLinesEventStore(tmp_path / "events.jsonl")

        return reopen


async def test_a_runtime_records_its_runs_in_the_directory(tmp_path: Path) -> None:
    """`AgentRuntime(store="{{ cookiecutter.entry_name }}://<dir>")` keeps the run, readable after reopening."""
    url = f"{{ cookiecutter.entry_name }}://{tmp_path / 'runs'}"
    async with AgentRuntime(store=url) as runtime:
        result = await runtime.run(Agent(name="echo", model="test"), TaskSpec(input="hello"))
    assert result.is_ok(), result.error

    stores = store_factory(url)
    try:
        runs = await stores.runs.list()
        events = await stores.events.query()
    finally:
        await stores.aclose()
    assert [(r.agent_name, r.status) for r in runs] == [("echo", RunStatus.COMPLETED)]
    assert events

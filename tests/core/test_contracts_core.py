"""The kernel's own concretes pass the public murmur.testing contract suites."""

from __future__ import annotations

from typing import Any

import pytest

from murmur import Agent
from murmur.context import FullContextPasser, NullContextPasser
from murmur.events import (
    CollectingEventEmitter,
    LogEventEmitter,
    MultiEventEmitter,
    NullEventEmitter,
)
from murmur.testing.context import ContextPasserContract
from murmur.testing.emitters import EmitterContract
from murmur.testing.tools import ToolProviderContract
from murmur.tools import PythonToolProvider, ToolRegistry


class TestLogEmitter(EmitterContract):
    @pytest.fixture
    def emitter(self) -> Any:
        return LogEventEmitter()


class TestMultiEmitter(EmitterContract):
    @pytest.fixture
    def emitter(self) -> Any:
        return MultiEventEmitter([CollectingEventEmitter(), NullEventEmitter()])


class TestCollectingEmitter(EmitterContract):
    @pytest.fixture
    def emitter(self) -> Any:
        return CollectingEventEmitter()


class TestNullPasser(ContextPasserContract):
    @pytest.fixture
    def passer(self) -> Any:
        return NullContextPasser()


class TestFullPasser(ContextPasserContract):
    @pytest.fixture
    def passer(self) -> Any:
        return FullContextPasser()

    async def test_full_passes_the_whole_conversation(self, passer: Any, parent: Any) -> None:
        """FullContextPasser hands the child every parent message."""
        from murmur.types import TaskSpec

        assert await passer.prepare(parent, TaskSpec(input="x")) == list(parent.messages)


class TestPythonToolProvider(ToolProviderContract):
    @pytest.fixture
    def provider(self) -> Any:
        return PythonToolProvider()

    @pytest.fixture
    def registry(self) -> ToolRegistry:
        registry = ToolRegistry()

        def lookup(key: str) -> str:
            """Look a key up."""
            return key

        registry.register("lookup", lookup, read_only=True)
        return registry

    @pytest.fixture
    def agent(self) -> Agent[Any]:
        return Agent(name="a", tools=("lookup",))


async def test_multi_emitter_isolates_a_failing_emitter() -> None:
    """One emitter raising does not stop delivery to the others."""

    class Broken:
        async def emit(self, event: Any) -> None:
            raise RuntimeError("down")

    good = CollectingEventEmitter()
    multi = MultiEventEmitter([Broken(), good])
    await multi.emit(EmitterContract.make_event())
    assert len(good.events) == 1

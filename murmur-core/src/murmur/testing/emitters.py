"""Contract suite for event emitters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from murmur.events import EventType, RuntimeEvent

__all__ = ["EmitterContract"]


class EmitterContract:
    """Subclass and provide an `emitter` fixture (sync or async) returning your emitter."""

    @pytest.fixture
    def emitter(self) -> Any:
        """The emitter under test."""
        raise NotImplementedError("provide an `emitter` fixture")

    @staticmethod
    def make_event(event_type: EventType = EventType.AGENT_SPAWNED, **payload: Any) -> RuntimeEvent:
        """A representative event."""
        return RuntimeEvent(
            event_type=event_type,
            agent_name="contract-agent",
            task_id="task-1",
            trace_id="0" * 32,
            payload=payload,
        )

    async def test_emit_accepts_every_event_type(self, emitter: Any) -> None:
        """Every EventType can be emitted without error."""
        for event_type in EventType:
            await emitter.emit(self.make_event(event_type, detail="x"))

    async def test_emit_is_awaitable_and_returns_none(self, emitter: Any) -> None:
        """`emit` is a coroutine returning None."""
        assert await emitter.emit(self.make_event()) is None

    async def test_concurrent_emits_do_not_fail(self, emitter: Any) -> None:
        """Many concurrent emits complete."""
        await asyncio.gather(*(emitter.emit(self.make_event(n=i)) for i in range(50)))

    async def test_payloads_with_odd_values_are_accepted(self, emitter: Any) -> None:
        """Nested and non-ASCII payload values do not break the emitter."""
        await emitter.emit(self.make_event(nested={"a": [1, 2.5, None]}, text="héllo ✓"))

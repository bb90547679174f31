"""Shared fixtures: a runtime that collects its events, and FunctionModel helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from murmur import AgentRuntime, RuntimeOptions
from murmur.events import CollectingEventEmitter


@pytest.fixture
def events() -> CollectingEventEmitter:
    """An emitter that keeps every event."""
    return CollectingEventEmitter()


@pytest.fixture
async def runtime(events: CollectingEventEmitter) -> AsyncIterator[AgentRuntime]:
    """An in-process runtime whose events land in `events`."""
    rt = AgentRuntime(event_emitter=events)
    yield rt
    await rt.aclose()


def make_runtime(events: CollectingEventEmitter, **options: Any) -> AgentRuntime:
    """A runtime with the given RuntimeOptions fields."""
    return AgentRuntime(options=RuntimeOptions(**options), event_emitter=events)

"""Typed runtime events and the emitters that deliver them.

Every spawn, completion, failure, tool call, group start/end, worker lifecycle change and
budget hit emits a `RuntimeEvent`. Plugins add emitters (`OTelMetricsEmitter` in
murmur-otel, `SSEEventEmitter` in murmur-server); they are importable from here once
installed.
"""

from __future__ import annotations

from typing import Any

from murmur.events._emitters import (
    CollectingEventEmitter,
    EventEmitter,
    LogEventEmitter,
    MultiEventEmitter,
    NullEventEmitter,
    flush_emitter,
    plugin_emitter,
)
from murmur.events._model import EventType, RuntimeEvent, run_event

__all__ = [
    "CollectingEventEmitter",
    "EventEmitter",
    "EventType",
    "LogEventEmitter",
    "MultiEventEmitter",
    "NullEventEmitter",
    "RuntimeEvent",
    "flush_emitter",
    "run_event",
]

# Emitters that live in plugin distributions, importable from `murmur.events` once installed:
# the `murmur.emitters` entry point whose target is `module:<Name>` provides `<Name>`.
_PLUGIN_EMITTERS = {
    "OTelEmitter": "murmur-otel",
    "OTelMetricsEmitter": "murmur-otel",
    "OTelTraceEmitter": "murmur-otel",
    "SSEEventEmitter": "murmur-server",
}


def __getattr__(name: str) -> Any:
    if not name.startswith("_") and name[:1].isupper():
        emitter = plugin_emitter(name)
        if emitter is not None:
            return emitter
    if name in _PLUGIN_EMITTERS:
        dist = _PLUGIN_EMITTERS[name]
        raise ImportError(
            f"murmur.events.{name} is provided by the {dist} distribution: pip install {dist}",
            name=name,
        )
    raise AttributeError(f"module 'murmur.events' has no attribute {name!r}")

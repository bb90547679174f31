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
)
from murmur.events._model import EventType, RuntimeEvent

__all__ = [
    "CollectingEventEmitter",
    "EventEmitter",
    "EventType",
    "LogEventEmitter",
    "MultiEventEmitter",
    "NullEventEmitter",
    "RuntimeEvent",
]

# Emitters that live in plugin distributions, importable from `murmur.events` when installed.
_PLUGIN_EMITTERS = {
    "OTelMetricsEmitter": ("murmur_otel", "murmur-otel"),
    "SSEEventEmitter": ("murmur_server", "murmur-server"),
    "BrokerEventBridge": ("murmur.worker", "murmur-core"),
}


def __getattr__(name: str) -> Any:
    if name in _PLUGIN_EMITTERS:
        module_name, dist = _PLUGIN_EMITTERS[name]
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ImportError(
                f"murmur.events.{name} is provided by the {dist} distribution: pip install {dist}"
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module 'murmur.events' has no attribute {name!r}")

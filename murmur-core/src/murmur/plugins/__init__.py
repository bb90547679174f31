"""The plugin host: stevedore discovers and selects, pluggy calls.

- `PluginHost` owns one pluggy `PluginManager`, registers every installed `murmur.plugins`
  entry point (a broken one is recorded in `PluginHost.failures`, never raised), resolves
  backends, stores, emitters, context passers and tool providers by name, and calls the
  observation hooks.
- `PluginIndex` is the metadata-only view of what is installed (no imports).
- `inventory()` is what `murmur plugins list` prints.

Names are imported lazily: `murmur --help` reads the index without importing pluggy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from murmur.plugins._discovery import (
        DISABLE_ENV_VAR,
        DistributionInfo,
        EntryPointInfo,
        PluginIndex,
    )
    from murmur.plugins._inventory import PluginReport, PluginStatus, inventory
    from murmur.plugins.host import INSTALL_HINTS, PluginFailure, PluginHost

__all__ = [
    "DISABLE_ENV_VAR",
    "INSTALL_HINTS",
    "DistributionInfo",
    "EntryPointInfo",
    "PluginFailure",
    "PluginHost",
    "PluginIndex",
    "PluginReport",
    "PluginStatus",
    "inventory",
]

_MODULES = {
    "DISABLE_ENV_VAR": "murmur.plugins._discovery",
    "DistributionInfo": "murmur.plugins._discovery",
    "EntryPointInfo": "murmur.plugins._discovery",
    "PluginIndex": "murmur.plugins._discovery",
    "INSTALL_HINTS": "murmur.plugins.host",
    "PluginFailure": "murmur.plugins.host",
    "PluginHost": "murmur.plugins.host",
    "PluginReport": "murmur.plugins._inventory",
    "PluginStatus": "murmur.plugins._inventory",
    "inventory": "murmur.plugins._inventory",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'murmur.plugins' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)

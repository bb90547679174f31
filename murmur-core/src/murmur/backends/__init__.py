"""Backends: where runs execute. `AsyncBackend` (in-process) is the default; broker
backends are selected by URL (`AgentRuntime(broker="redis://...")`) through the plugin host.
"""

from __future__ import annotations

from typing import Any

from murmur.backends._async import AsyncBackend
from murmur.backends._base import Backend

__all__ = ["AsyncBackend", "Backend", "memory_backend_factory"]


def memory_backend_factory(url: str, **options: Any) -> Backend:
    """Entry point `murmur.backends:memory`: the in-process broker path.

    Until the broker-backed `JobBackend` lands this is the in-process `AsyncBackend`.
    """
    return AsyncBackend()

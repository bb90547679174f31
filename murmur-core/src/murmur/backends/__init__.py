"""Backends: where runs execute. `AsyncBackend` (in-process) is the default; broker
backends are selected by URL (`AgentRuntime(broker="redis://...")`) through the plugin host
and are a `JobBackend` over the broker plugin's `Transport`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from murmur.backends._async import AsyncBackend
from murmur.backends._base import Backend

if TYPE_CHECKING:
    from murmur.backends._job import JobBackend

__all__ = ["AsyncBackend", "Backend", "JobBackend", "memory_backend_factory"]


def memory_backend_factory(url: str, **options: Any) -> Backend:
    """Entry point `murmur.backends:memory`: a `JobBackend` over the in-process
    `MemoryTransport`, so the whole distributed path (envelopes, signing, workers, reclaim)
    runs in one process. Start a `Worker(broker="memory://...")` in the same process."""
    from murmur.transport import MemoryTransport, transport_backend_factory

    return transport_backend_factory(MemoryTransport)(url, **options)


def __getattr__(name: str) -> Any:
    if name == "JobBackend":
        from murmur.backends._job import JobBackend

        return JobBackend
    raise AttributeError(f"module 'murmur.backends' has no attribute {name!r}")

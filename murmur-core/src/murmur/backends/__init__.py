"""Backends: where runs execute.

`AsyncBackend` (in-process) is the default; broker backends are selected by URL
(`AgentRuntime(broker="redis://...")`) through the plugin host and are a `JobBackend` over the
broker plugin's `Transport`.
"""

from __future__ import annotations

from murmur.backends._async import AsyncBackend
from murmur.execution._backend import Backend
from murmur.transport._factory import (
    JOB_BACKEND_OPTIONS,
    memory_backend_factory,
    transport_backend_factory,
)
from murmur.transport._job import JobBackend

__all__ = [
    "JOB_BACKEND_OPTIONS",
    "AsyncBackend",
    "Backend",
    "JobBackend",
    "memory_backend_factory",
    "transport_backend_factory",
]

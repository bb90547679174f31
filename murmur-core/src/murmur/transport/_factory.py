"""How a broker URL becomes a backend or a transport.

The `murmur.backends` entry-point convention.

A broker plugin's `murmur.backends` entry point (named by URL scheme) is a factory
`factory(url, **options) -> Backend`. For a transport-based broker it is built by
`transport_backend_factory(MyTransport)`: the factory returns a `JobBackend` over a new
`MyTransport(url, **transport_options)`. So `AgentRuntime(broker="redis://...")` gets a
`JobBackend` (through `PluginHost.resolve_backend`), and `Worker(broker="redis://...")`
resolves the same entry point and uses its `.transport`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from murmur.core.errors import RegistryError
from murmur.execution._backend import Backend
from murmur.plugins.host import PluginHost
from murmur.transport._base import Transport
from murmur.transport._job import JobBackend
from murmur.transport._memory import MemoryTransport

__all__ = [
    "JOB_BACKEND_OPTIONS",
    "memory_backend_factory",
    "resolve_transport",
    "transport_backend_factory",
]

JOB_BACKEND_OPTIONS = frozenset(
    {"signing_key", "default_timeout_s", "fleet_events", "client_id", "publish_retry_s"}
)
"""Factory options that configure the `JobBackend`; every other option goes to the transport."""


def transport_backend_factory(transport_cls: Callable[..., Transport]) -> Callable[..., JobBackend]:
    """The `murmur.backends` entry-point factory for a `Transport` class.

    Example (a plugin's `__init__.py` and `pyproject.toml`):
        ```python
        backend_factory = transport_backend_factory(RedisTransport)
        ```
        ```toml
        [project.entry-points."murmur.backends"]
        redis = "murmur_redis:backend_factory"
        ```
    """

    def factory(url: str, **options: Any) -> JobBackend:
        backend_options = {k: v for k, v in options.items() if k in JOB_BACKEND_OPTIONS}
        transport_options = {k: v for k, v in options.items() if k not in JOB_BACKEND_OPTIONS}
        return JobBackend(transport_cls(url, **transport_options), **backend_options)

    factory.__name__ = f"{getattr(transport_cls, '__name__', 'transport')}_backend_factory"
    return factory


def memory_backend_factory(url: str, **options: Any) -> Backend:
    """Entry point `murmur.backends:memory`: a `JobBackend` over the in-process `MemoryTransport`.

    The whole distributed path (envelopes, signing, workers, reclaim) runs in one process. Start a
    `Worker(broker="memory://...")` in the same process.
    """
    return transport_backend_factory(MemoryTransport)(url, **options)


def resolve_transport(
    broker: str | Transport | Any, *, plugins: PluginHost | None = None, **options: Any
) -> Transport:
    """The transport for a broker URL, a `Transport`, or a `JobBackend`.

    A URL's transport comes through the plugin host; a `Transport` is itself; a `JobBackend` gives
    its transport.

    Raises:
        RegistryError: No plugin handles the URL's scheme, or it is not a broker transport.
    """
    if isinstance(broker, Transport):
        return broker
    if isinstance(broker, str):
        if plugins is None:
            plugins = PluginHost()
        resolved = plugins.resolve_backend(broker, **options)
    else:
        resolved = broker
    transport = getattr(resolved, "transport", None)
    if isinstance(transport, Transport):
        return transport
    if isinstance(resolved, Transport):
        return resolved
    raise RegistryError(
        f"{broker!r} resolved to a {type(resolved).__name__}, which is not a broker transport; "
        "a worker needs a broker URL such as redis://host:6379 or memory://",
        code="not_a_transport",
    )

"""A broker URL (or a `JobBackend`) as the `Transport` a worker consumes from."""

from __future__ import annotations

from typing import Any

from murmur.core.errors import RegistryError
from murmur.plugins.host import PluginHost
from murmur.transport._base import Transport

__all__ = ["resolve_transport"]


def resolve_transport(
    broker: str | Transport | Any, *, plugins: PluginHost | None = None, **options: Any
) -> Transport:
    """The transport for a broker URL (through the plugin host), a `Transport`, or a
    `JobBackend` (its transport).

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

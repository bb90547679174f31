"""Toolset providers (MCP servers...) and the per-runtime pool that shares their toolsets."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, runtime_checkable

from murmur.core.errors import RegistryError
from murmur.core.logs import get_logger

__all__ = ["ToolsetPool", "ToolsetProvider"]

log = get_logger("murmur.tools")

_CLOSE_TIMEOUT_S = 10.0


@runtime_checkable
class ToolsetProvider(Protocol):
    """A named source of tools that several agents of one runtime share (an MCP server).

    An agent lists providers in `Agent(mcp_servers=...)`. The runtime asks each provider
    for one toolset the first time an agent needs it, shares it with every agent and run
    that lists a provider of the same name, and closes it when the runtime closes. Its
    tools are gated under qualified names, `"<provider name>.<tool>"`, which is the form
    the agent's allow-list (`tools=`) uses.
    """

    name: str

    def toolset(self) -> Any:
        """A new PydanticAI toolset for one runtime, with an async `aclose()`."""
        ...

    def to_spec(self) -> dict[str, Any]:
        """The YAML form of this provider: an `mcp_servers:` entry (`kind` defaults to `mcp`)."""
        ...


class ToolsetPool:
    """One live toolset per provider name, for one runtime (or worker).

    `get` is cheap and synchronous: it creates the toolset but starts nothing; the toolset
    starts its server on first use. `aclose` closes every toolset (stopping its server) and
    keeps it: agents built earlier hold it, and a later use starts the server again, so the
    next `aclose` stops that one too.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[ToolsetProvider, Any]] = {}

    def get(self, provider: ToolsetProvider) -> Any:
        """The shared toolset of `provider` on this runtime.

        Raises:
            RegistryError: another, different provider already uses this name here.
        """
        entry = self._entries.get(provider.name)
        if entry is not None:
            if entry[0] != provider:
                raise RegistryError(
                    f"two different MCP servers are named {provider.name!r} on this runtime: "
                    f"{entry[0]!r} and {provider!r}; give each its own name",
                    code="conflict",
                    details={"name": provider.name},
                )
            return entry[1]
        toolset = provider.toolset()
        self._entries[provider.name] = (provider, toolset)
        return toolset

    def names(self) -> list[str]:
        """Names of the providers with a toolset in the pool, sorted."""
        return sorted(self._entries)

    def toolsets(self) -> dict[str, Any]:
        """The pooled toolsets by provider name."""
        return {name: entry[1] for name, entry in self._entries.items()}

    async def aclose(self) -> None:
        """Close every pooled toolset (stopping its server); never raises."""
        for provider, toolset in list(self._entries.values()):
            close = getattr(toolset, "aclose", None)
            if close is None:
                continue
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await close()
            except Exception as exc:
                log.warning("tool server did not close", name=provider.name, error=repr(exc))

"""The live side of an MCP server on one runtime: start once, share, restart if it died.

`SharedMCPToolset` wraps a PydanticAI `MCPToolset`. The first run that needs the server
starts it (under `connect_timeout`); every later run and agent on the runtime shares that
session. A run entering or leaving the toolset does not stop it: `aclose()` (called by
`runtime.aclose()` or a stopping worker) does. When a call fails and the server no longer
answers a ping, the call becomes a `ToolExecutionError` and the next use starts a new process.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic_ai.mcp import MCPToolset
from pydantic_ai.toolsets import AbstractToolset

from murmur.core.errors import ToolExecutionError

if TYPE_CHECKING:
    from pydantic_ai import RunContext
    from pydantic_ai.toolsets import ToolsetTool

    from murmur_mcp._spec import MCPServerSpec

__all__ = ["SharedMCPToolset"]

_PING_TIMEOUT_S = 2.0
_STDERR_TAIL = 2000


class SharedMCPToolset(AbstractToolset[Any]):
    """One MCP server session on one runtime, shared by every agent and run that uses it.

    Attributes:
        spec: The server it reaches.
        starts: How many times the server was started (or connected to) on this runtime.
    """

    def __init__(self, spec: MCPServerSpec) -> None:
        self.spec = spec
        self.starts = 0
        self._live: MCPToolset[Any] | None = None
        self._lock: asyncio.Lock | None = None
        self._stderr_dir: str | None = None

    # -- AbstractToolset -----------------------------------------------------------------

    @property
    def id(self) -> str | None:
        """The server's name."""
        return f"mcp:{self.spec.name}"

    @property
    def label(self) -> str:
        """How PydanticAI names this toolset in its errors."""
        return f"MCP server {self.spec.name!r}"

    async def __aenter__(self) -> Self:
        await self._ensure_live()
        return self

    async def __aexit__(self, *args: Any) -> bool | None:
        return None  # a run ending does not stop the shared server; aclose() does

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        """The server's tools (listed once per session, refreshed on `tools/list_changed`)."""
        live = await self._ensure_live()
        try:
            async with asyncio.timeout(self.spec.call_timeout):
                return await live.get_tools(ctx)
        except Exception as exc:
            raise await self._failure(live, exc, "listing its tools") from exc

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]
    ) -> Any:
        """Call `name` on the server, under `call_timeout`."""
        live = await self._ensure_live()
        try:
            async with asyncio.timeout(self.spec.call_timeout):
                return await live.call_tool(name, tool_args, ctx, tool)
        except TimeoutError as exc:
            raise ToolExecutionError(
                f"MCP server {self.spec.name!r} did not answer a call to {name!r} within "
                f"{self.spec.call_timeout:g}s (call_timeout); raise it or check the server",
                code="mcp_timeout",
                details={"server": self.spec.name, "tool": name},
            ) from exc
        except Exception as exc:
            # A tool error the server reported is the model's to handle (ModelRetry); a server
            # that died under the call is not, and a typed error says so.
            if await self._alive(live):
                raise
            raise await self._failure(live, exc, f"a call to {name!r}") from exc

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether a session is open (it may have died since; the next use finds out)."""
        return self._live is not None

    async def aclose(self) -> None:
        """Stop the server (or close the connection). The next use starts it again."""
        live, self._live = self._live, None
        if live is not None:
            await _close(live)
        if self._stderr_dir is not None:
            shutil.rmtree(self._stderr_dir, ignore_errors=True)
            self._stderr_dir = None

    async def _ensure_live(self) -> MCPToolset[Any]:
        live = self._live
        if live is not None and not _seems_dead(live):
            return live
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            live = self._live
            if live is not None and _seems_dead(live):
                self._live = None
                await _close(live)
                live = None
            if live is None:
                live = self._live = await self._start()
            return live

    async def _start(self) -> MCPToolset[Any]:
        stderr = self._stderr_path()
        if stderr is not None:
            stderr.write_text("")  # each process starts a fresh file: the tail is its own
        transport = self.spec.transport(stderr)
        live: MCPToolset[Any] = MCPToolset(
            transport,
            id=self.spec.name,
            init_timeout=self.spec.connect_timeout,
            read_timeout=self.spec.call_timeout,
            log_handler=_quiet_log,
        )
        self.starts += 1
        try:
            async with asyncio.timeout(self.spec.connect_timeout):
                await live.__aenter__()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await _close(live)
            reason = (
                f"did not complete the MCP handshake within {self.spec.connect_timeout:g}s "
                "(connect_timeout)"
                if isinstance(exc, TimeoutError)
                else f"failed: {_describe(exc)}"
            )
            raise ToolExecutionError(
                f"MCP server {self.spec.name!r} ({self.spec.describe()}) could not be started: "
                f"{reason}{self._stderr_tail(stderr)}",
                code="mcp_start_failed",
                details={"server": self.spec.name, "target": self.spec.describe()},
            ) from exc
        return live

    async def _alive(self, live: MCPToolset[Any]) -> bool:
        if _seems_dead(live):
            return False
        try:
            async with asyncio.timeout(_PING_TIMEOUT_S):
                await live.client.ping()
        except Exception:
            return False
        return True

    async def _failure(self, live: MCPToolset[Any], exc: BaseException, doing: str) -> Exception:
        if isinstance(exc, ToolExecutionError):
            return exc
        if self._live is live:
            self._live = None
        with contextlib.suppress(Exception):
            await _close(live)
        return ToolExecutionError(
            f"MCP server {self.spec.name!r} ({self.spec.describe()}) stopped answering during "
            f"{doing}: {_describe(exc)}; it is started again on next use"
            f"{self._stderr_tail(self._stderr_path(create=False))}",
            code="mcp_server_died",
            details={"server": self.spec.name, "target": self.spec.describe()},
        )

    def _stderr_path(self, create: bool = True) -> Path | None:
        if self.spec.transport_kind != "stdio":
            return None
        if self._stderr_dir is None:
            if not create:
                return None
            self._stderr_dir = tempfile.mkdtemp(prefix=f"murmur-mcp-{self.spec.name}-")
        return Path(self._stderr_dir) / "stderr.log"

    @staticmethod
    def _stderr_tail(path: Path | None) -> str:
        if path is None or not path.exists():
            return ""
        text = path.read_text(errors="replace")[-_STDERR_TAIL:].strip()
        return f"; its stderr ends with:\n{text}" if text else "; it wrote nothing to stderr"


async def _quiet_log(message: Any) -> None:
    """Server log notifications are not murmur's to print."""


async def _close(live: MCPToolset[Any]) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(10):
            await live.__aexit__(None, None, None)


def _seems_dead(live: MCPToolset[Any]) -> bool:
    """Best effort, without a round trip: the stdio transport saw its process go away.

    FastMCP's `StdioTransport` reconnects a dead session itself the same way; these are its
    own (private) signals, read defensively: an HTTP transport has neither and says False.
    """
    transport = getattr(live.client, "transport", None)
    task = getattr(transport, "_connect_task", None)
    if task is not None and task.done():
        return True
    session_dead = getattr(transport, "_is_session_dead", None)
    try:
        return bool(session_dead()) if callable(session_dead) else False
    except Exception:
        return False


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text

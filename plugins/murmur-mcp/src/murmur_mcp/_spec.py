"""MCP server specs: what to start or connect to, with a name and a YAML form.

A spec is a frozen value: agents hold it, YAML writes it, and equal specs under one name are
one server on a runtime. Nothing here imports the MCP libraries; the live side is
`murmur_mcp._toolset`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from murmur.core.errors import SpecValidationError

if TYPE_CHECKING:
    from pathlib import Path

    from murmur_mcp._toolset import SharedMCPToolset

__all__ = [
    "DEFAULT_CALL_TIMEOUT_S",
    "DEFAULT_CONNECT_TIMEOUT_S",
    "HttpMCPServer",
    "MCPServerSpec",
    "SseMCPServer",
    "StdioMCPServer",
    "mcp_http",
    "mcp_server_from_spec",
    "mcp_sse",
    "mcp_stdio",
    "mcp_tool_provider_factory",
]

DEFAULT_CONNECT_TIMEOUT_S = 30.0
"""How long starting a server and the MCP handshake may take."""

DEFAULT_CALL_TIMEOUT_S = 60.0
"""How long one tool call may take."""

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SpecValidationError(message)


def _expand(value: str) -> str:
    """`${VAR}` replaced by the environment variable (kept out of YAML, read when started)."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SpecValidationError(
                f"MCP server setting refers to ${{{name}}}, which is not set in the environment; "
                f"export {name} before starting"
            )
        return os.environ[name]

    return _ENV_REF.sub(sub, value)


def _str_map(value: Any, what: str) -> dict[str, str]:
    _check(isinstance(value, Mapping), f"{what} must be a mapping of strings, got {value!r}")
    out: dict[str, str] = {}
    for key, item in value.items():
        _check(
            isinstance(key, str) and isinstance(item, str | int | float) and item is not True,
            f"{what} must map strings to strings, got {key!r}: {item!r}",
        )
        out[key] = str(item)
    return out


@dataclass(frozen=True, slots=True)
class MCPServerSpec:
    """An MCP server agents can use: a name (unique on a runtime) and how to reach it.

    Its tools are gated as `"<name>.<tool>"`: put those names in `Agent(tools=...)` to allow
    them for a MEDIUM (or LOW) trust agent.
    """

    kind: ClassVar[str] = "mcp"
    transport_kind: ClassVar[str] = ""
    name: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S
    call_timeout: float = DEFAULT_CALL_TIMEOUT_S

    def __post_init__(self) -> None:
        _check(
            isinstance(self.name, str) and bool(_NAME.match(self.name)),
            f"an MCP server name is 1-64 letters, digits, '_' or '-' (it prefixes tool names "
            f"in allow-lists, as 'name.tool'), got {self.name!r}",
        )
        for what in ("connect_timeout", "call_timeout"):
            value = getattr(self, what)
            _check(
                isinstance(value, int | float) and not isinstance(value, bool) and value > 0,
                f"MCP server {self.name!r}: {what} must be a number of seconds > 0, got {value!r}",
            )

    def describe(self) -> str:
        """How the server is reached, for error messages."""
        raise NotImplementedError

    def transport(self, stderr: Path | None) -> Any:
        """A new FastMCP client transport for this server."""
        raise NotImplementedError

    def toolset(self) -> SharedMCPToolset:
        """A new shared toolset for one runtime: starts the server on first use."""
        from murmur_mcp._toolset import SharedMCPToolset

        return SharedMCPToolset(self)

    def toolsets(self, agent: Any, registry: Any) -> list[Any]:
        """The `murmur.tools.ToolProvider` shape: a new toolset of this server, in a list.

        A runtime does not call this (it keeps one toolset per server name, from
        `toolset()`); whoever calls it owns the toolset and closes it with `aclose()`.
        """
        return [self.toolset()]

    def to_spec(self) -> dict[str, Any]:
        """The YAML form (a mapping `mcp_server_from_spec` reads back into an equal spec)."""
        doc: dict[str, Any] = {"name": self.name}
        doc.update(self._fields())
        if self.connect_timeout != DEFAULT_CONNECT_TIMEOUT_S:
            doc["connect_timeout"] = self.connect_timeout
        if self.call_timeout != DEFAULT_CALL_TIMEOUT_S:
            doc["call_timeout"] = self.call_timeout
        return doc

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class StdioMCPServer(MCPServerSpec):
    """A server murmur starts as a subprocess and talks to over stdin/stdout."""

    transport_kind: ClassVar[str] = "stdio"

    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None

    def __post_init__(self) -> None:
        MCPServerSpec.__post_init__(self)
        _check(
            isinstance(self.command, str) and bool(self.command.strip()),
            f"MCP server {self.name!r}: command must be a non-empty string (e.g. 'uvx')",
        )
        _check(
            all(isinstance(a, str) for a in self.args),
            f"MCP server {self.name!r}: args must be strings, got {list(self.args)!r}",
        )
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "env", _str_map(self.env, f"MCP server {self.name!r}: env"))
        _check(
            self.cwd is None or isinstance(self.cwd, str),
            f"MCP server {self.name!r}: cwd must be a path string, got {self.cwd!r}",
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.command, self.args))

    def describe(self) -> str:
        """The command line."""
        return " ".join([self.command, *self.args])

    def transport(self, stderr: Path | None) -> Any:
        """A FastMCP `StdioTransport` that stops the process when the client closes."""
        from fastmcp.client.transports import StdioTransport

        env = {key: _expand(value) for key, value in self.env.items()} if self.env else None
        return StdioTransport(
            self.command,
            [_expand(a) for a in self.args],
            env=env,
            cwd=self.cwd,
            keep_alive=False,
            log_file=stderr,
        )

    def _fields(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"command": self.command}
        if self.args:
            doc["args"] = list(self.args)
        if self.env:
            doc["env"] = dict(self.env)
        if self.cwd is not None:
            doc["cwd"] = self.cwd
        return doc


@dataclass(frozen=True, slots=True)
class HttpMCPServer(MCPServerSpec):
    """A running server murmur connects to over Streamable HTTP."""

    transport_kind: ClassVar[str] = "streamable-http"
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        MCPServerSpec.__post_init__(self)
        _check(
            isinstance(self.url, str) and self.url.startswith(("http://", "https://")),
            f"MCP server {self.name!r}: url must be an http:// or https:// URL, got {self.url!r}",
        )
        object.__setattr__(
            self, "headers", _str_map(self.headers, f"MCP server {self.name!r}: headers")
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.url))

    def describe(self) -> str:
        """The URL."""
        return f"{self.url} ({self.transport_kind})"

    def transport(self, stderr: Path | None) -> Any:
        """A FastMCP `StreamableHttpTransport`."""
        from fastmcp.client.transports import StreamableHttpTransport

        return StreamableHttpTransport(self.url, headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {key: _expand(value) for key, value in self.headers.items()}

    def _fields(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"url": self.url}
        if self.transport_kind != HttpMCPServer.transport_kind:
            doc["transport"] = self.transport_kind
        if self.headers:
            doc["headers"] = dict(self.headers)
        return doc


@dataclass(frozen=True, slots=True)
class SseMCPServer(HttpMCPServer):
    """A running server murmur connects to over HTTP + SSE (deprecated in MCP, still common)."""

    transport_kind: ClassVar[str] = "sse"

    def __hash__(self) -> int:
        return hash((self.kind, self.name, self.url, "sse"))

    def transport(self, stderr: Path | None) -> Any:
        """A FastMCP `SSETransport`."""
        from fastmcp.client.transports import SSETransport

        return SSETransport(self.url, headers=self._headers())


def mcp_stdio(
    name: str,
    command: str,
    args: tuple[str, ...] | list[str] = (),
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    call_timeout: float = DEFAULT_CALL_TIMEOUT_S,
) -> StdioMCPServer:
    """An MCP server started as a subprocess (stdio transport).

    ```python
    time_server = mcp_stdio("time", "uvx", ["mcp-server-time"])
    agent = Agent(name="clock", mcp_servers=(time_server,), tools=("time.get_current_time",))
    ```

    Args:
        name: Its name on a runtime (agents listing equal specs share one process); its tools
            are allowed by `"<name>.<tool>"` in `Agent(tools=...)`.
        command: The executable to start.
        args: Its arguments.
        env: Extra environment variables (`${VAR}` is read from murmur's environment when
            the server starts, so secrets stay out of YAML).
        cwd: Its working directory.
        connect_timeout: Seconds to start and complete the MCP handshake.
        call_timeout: Seconds one tool call may take.

    Raises:
        SpecValidationError: A bad name, command, argument or timeout.
    """
    return StdioMCPServer(
        name=name,
        command=command,
        args=tuple(args),
        env=dict(env or {}),
        cwd=cwd,
        connect_timeout=connect_timeout,
        call_timeout=call_timeout,
    )


def mcp_http(
    name: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    call_timeout: float = DEFAULT_CALL_TIMEOUT_S,
) -> HttpMCPServer:
    """A running MCP server reached over Streamable HTTP.

    ```python
    docs = mcp_http("docs", "https://mcp.example.com/mcp",
                    headers={"Authorization": "Bearer ${DOCS_TOKEN}"})
    ```

    Args:
        name: As for `mcp_stdio`.
        url: The server's MCP endpoint.
        headers: HTTP headers sent with every request (`${VAR}` expanded when connecting).
        connect_timeout: Seconds to connect and complete the MCP handshake.
        call_timeout: Seconds one tool call may take.

    Raises:
        SpecValidationError: A bad name, URL, header or timeout.
    """
    return HttpMCPServer(
        name=name,
        url=url,
        headers=dict(headers or {}),
        connect_timeout=connect_timeout,
        call_timeout=call_timeout,
    )


def mcp_sse(
    name: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    call_timeout: float = DEFAULT_CALL_TIMEOUT_S,
) -> SseMCPServer:
    """A running MCP server reached over the (deprecated) HTTP + SSE transport.

    Arguments as for `mcp_http`; `url` is the server's SSE endpoint (often `.../sse`).
    """
    return SseMCPServer(
        name=name,
        url=url,
        headers=dict(headers or {}),
        connect_timeout=connect_timeout,
        call_timeout=call_timeout,
    )


_SPEC_KEYS = {
    "kind",
    "name",
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "transport",
    "connect_timeout",
    "call_timeout",
}


def mcp_server_from_spec(spec: Mapping[str, Any]) -> MCPServerSpec:
    """An MCP server spec from its YAML mapping (`command`/`args`/`env` or `url`/`headers`).

    Raises:
        SpecValidationError: An unknown key, both or neither of `command` and `url`, an
            unknown transport, or a bad value.
    """
    _check(isinstance(spec, Mapping), f"an mcp_servers entry is a mapping, got {spec!r}")
    unknown = sorted(set(spec) - _SPEC_KEYS)
    _check(
        not unknown,
        f"mcp_servers entry {spec.get('name')!r} has unknown key(s) {unknown}; "
        f"allowed: {sorted(_SPEC_KEYS)}",
    )
    _check(
        spec.get("kind", "mcp") == "mcp",
        f"mcp_servers entry {spec.get('name')!r} has kind {spec.get('kind')!r}, not 'mcp'",
    )
    name = spec.get("name")
    if not isinstance(name, str):
        raise SpecValidationError(f"an mcp_servers entry needs a name, got {dict(spec)!r}")
    timeouts = {k: spec[k] for k in ("connect_timeout", "call_timeout") if k in spec}
    has_command, has_url = "command" in spec, "url" in spec
    _check(
        has_command != has_url,
        f"mcp_servers entry {name!r} needs either command (stdio) or url (HTTP), not "
        f"{'both' if has_command else 'neither'}",
    )
    if has_command:
        transport = spec.get("transport", "stdio")
        _check(
            transport == "stdio",
            f"mcp_servers entry {name!r}: a command is a stdio server, not {transport!r}",
        )
        _check(
            "url" not in spec and "headers" not in spec,
            f"mcp_servers entry {name!r}: headers are for url servers",
        )
        args = spec.get("args") or []
        if isinstance(args, str):
            args = [args]
        _check(isinstance(args, list), f"mcp_servers entry {name!r}: args must be a list")
        return StdioMCPServer(
            name=name,
            command=spec["command"],
            args=tuple(args),
            env=spec.get("env") or {},
            cwd=spec.get("cwd"),
            **timeouts,
        )
    for key in ("args", "env", "cwd"):
        _check(key not in spec, f"mcp_servers entry {name!r}: {key} is for command servers")
    transport = spec.get("transport", "streamable-http")
    classes: dict[str, type[HttpMCPServer]] = {
        "streamable-http": HttpMCPServer,
        "sse": SseMCPServer,
    }
    _check(
        transport in classes,
        f"mcp_servers entry {name!r}: transport must be 'streamable-http' or 'sse' for a url, "
        f"got {transport!r}",
    )
    return classes[transport](
        name=name, url=spec["url"], headers=spec.get("headers") or {}, **timeouts
    )


def mcp_tool_provider_factory(spec: Any = None) -> MCPServerSpec:
    """Entry point `murmur.tool_providers:mcp`: a YAML `mcp_servers:` entry to a spec."""
    if isinstance(spec, MCPServerSpec):
        return spec
    if not isinstance(spec, Mapping):
        raise SpecValidationError(
            "the mcp tool provider needs a server mapping (name with command/args/env or "
            f"url/headers), got {spec!r}"
        )
    return mcp_server_from_spec(spec)

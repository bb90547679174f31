"""The runtime's native tool registry and the trust gate every tool call passes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, overload

from murmur.core.errors import RegistryError, TrustViolationError
from murmur.types import TrustLevel

__all__ = ["RegisteredTool", "ToolRegistry", "check_tool_allowed"]


@dataclass(frozen=True, slots=True)
class RegisteredTool:
    """A Python callable registered as a tool.

    `read_only` tools are the only ones a `TrustLevel.LOW` agent may call.
    """

    name: str
    function: Callable[..., Any]
    read_only: bool = False
    description: str | None = None


class ToolRegistry:
    """Native Python tools, executed inside the runtime and gated by trust level.

    ```python
    runtime.tools.register("web_search", web_search, read_only=True)

    @runtime.tools.register("calculator")
    def calculator(expression: str) -> float: ...
    ```
    """

    def __init__(self) -> None:
        self._tools: dict[str, RegisteredTool] = {}
        self.version = 0

    @overload
    def register(
        self,
        name: str,
        function: Callable[..., Any],
        *,
        read_only: bool = ...,
        description: str | None = ...,
        replace: bool = ...,
    ) -> Callable[..., Any]: ...

    @overload
    def register(
        self,
        name: str,
        function: None = None,
        *,
        read_only: bool = ...,
        description: str | None = ...,
        replace: bool = ...,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...

    def register(
        self,
        name: str,
        function: Callable[..., Any] | None = None,
        *,
        read_only: bool = False,
        description: str | None = None,
        replace: bool = False,
    ) -> Any:
        """Register `function` as the tool `name` (or use as a decorator without `function`).

        Raises:
            RegistryError: a different tool is already registered under `name` and
                `replace` is False, or `function` is not callable.
        """
        if function is None:

            def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
                self.register(
                    name, fn, read_only=read_only, description=description, replace=replace
                )
                return fn

            return decorator
        if not callable(function):
            raise RegistryError(f"tool {name!r} must be callable, got {type(function).__name__}")
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise RegistryError(f"tool name {name!r} must be non-empty letters, digits, '_' or '-'")
        existing = self._tools.get(name)
        if existing is not None and existing.function is not function and not replace:
            raise RegistryError(
                f"a different tool is already registered as {name!r}; pass replace=True to swap it"
            )
        self._tools[name] = RegisteredTool(
            name=name, function=function, read_only=read_only, description=description
        )
        self.version += 1
        return function

    def unregister(self, name: str) -> None:
        """Remove a tool; unknown names are ignored."""
        if self._tools.pop(name, None) is not None:
            self.version += 1

    def get(self, name: str) -> RegisteredTool:
        """The tool registered as `name`.

        Raises:
            RegistryError: no such tool.
        """
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise RegistryError(
                f"no tool named {name!r} is registered (registered: {known}); "
                f"call runtime.tools.register({name!r}, fn) first"
            ) from None

    def names(self) -> list[str]:
        """Registered tool names, sorted."""
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[RegisteredTool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)


def check_tool_allowed(
    *,
    agent_name: str,
    trust_level: TrustLevel,
    allow_list: tuple[str, ...],
    tool_name: str,
    read_only: bool,
) -> None:
    """Raise `TrustViolationError` unless an agent at `trust_level` may call `tool_name`.

    HIGH: any tool. MEDIUM: tools on the agent's allow-list. LOW: read-only tools on the
    allow-list. SANDBOX: none.
    """
    if trust_level is TrustLevel.HIGH:
        return
    if trust_level is TrustLevel.SANDBOX:
        reason = "SANDBOX agents may not call any tool"
    elif tool_name not in allow_list:
        reason = f"{tool_name!r} is not on the agent's allow-list {list(allow_list)}"
    elif trust_level is TrustLevel.LOW and not read_only:
        reason = (
            f"LOW trust agents may only call read-only tools; register {tool_name!r} with "
            "read_only=True if it has no side effects"
        )
    else:
        return
    raise TrustViolationError(
        f"agent {agent_name!r} ({trust_level.value} trust) may not call tool "
        f"{tool_name!r}: {reason}",
        details={"agent": agent_name, "tool": tool_name, "trust_level": trust_level.value},
    )

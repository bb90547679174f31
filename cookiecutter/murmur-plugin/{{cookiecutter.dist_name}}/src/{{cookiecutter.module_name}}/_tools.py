"""A tool provider: text tools that agents call as `"<provider name>.<tool>"`.

A tool provider supplies PydanticAI toolsets. murmur still gates every tool it offers by the
agent's allow-list (`tools=`) and trust level, and emits the tool events. List it in
`Agent(mcp_servers=(...))` (or `mcp_servers: [{kind: {{ cookiecutter.entry_name }}}]` in YAML); one toolset is
shared by every agent of a runtime.
"""

from __future__ import annotations

from typing import Any

__all__ = ["{{ cookiecutter.__class_prefix }}ToolProvider"]


def word_count(text: str) -> int:
    """Count the words in `text`."""
    return len(text.split())


def reverse(text: str) -> str:
    """Return `text` reversed."""
    return text[::-1]


class {{ cookiecutter.__class_prefix }}ToolProvider:
    """Offers `word_count` and `reverse`.

    Args:
        name: The namespace of the tools (`"<name>.word_count"` in an allow-list).
    """

    def __init__(self, name: str = "{{ cookiecutter.entry_name|replace('-', '_') }}") -> None:
        self.name = name

    def toolset(self) -> Any:
        """A new PydanticAI toolset (one per runtime)."""
        from pydantic_ai.toolsets import FunctionToolset

        return FunctionToolset([word_count, reverse])

    def toolsets(self, agent: Any, registry: Any) -> list[Any]:
        """The toolsets offered to `agent` (murmur's `ToolProvider` interface)."""
        return [self.toolset()]

    def to_spec(self) -> dict[str, Any]:
        """The YAML form: an `mcp_servers:` entry."""
        return {"kind": "{{ cookiecutter.entry_name }}", "name": self.name}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and getattr(other, "name", None) == self.name

    def __hash__(self) -> int:
        return hash((type(self), self.name))

    def __repr__(self) -> str:
        return f"{{ cookiecutter.__class_prefix }}ToolProvider(name={self.name!r})"

{%- set kind = cookiecutter.__kind -%}
{%- set p = cookiecutter.__class_prefix -%}
"""{{ cookiecutter.description }}

This module is what murmur imports when the entry point is selected: keep it light. Import
a heavy third-party library inside the factory or constructor that needs it.
"""

from __future__ import annotations
{% if kind == "transport" %}
from murmur.transport import transport_backend_factory

from {{ cookiecutter.module_name }}._transport import {{ p }}Transport

__all__ = ["{{ p }}Transport", "backend_factory"]

backend_factory = transport_backend_factory({{ p }}Transport)
"""The `murmur.backends` entry point: a `JobBackend` over a new transport per URL."""
{%- elif kind == "store" %}
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from murmur.runs import Stores

__all__ = ["store_factory"]


def store_factory(url: str) -> Stores:
    """Entry point `murmur.stores:{{ cookiecutter.entry_name }}`: the stores of a directory.

    `{{ cookiecutter.entry_name }}:///var/lib/murmur` (absolute) or `{{ cookiecutter.entry_name }}://runs-dir` (relative).
    """
    from {{ cookiecutter.module_name }}._store import open_stores

    return open_stores(url)


def __getattr__(name: str) -> Any:
    if name in {"JsonLinesRunStore", "JsonLinesEventStore"}:
        from {{ cookiecutter.module_name }} import _store

        return getattr(_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
{%- elif kind == "emitter" %}
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from {{ cookiecutter.module_name }}._emitter import JsonLinesEmitter

__all__ = ["JsonLinesEmitter", "emitter_factory"]


def emitter_factory(**options: Any) -> JsonLinesEmitter:
    """Entry point `murmur.emitters:{{ cookiecutter.entry_name }}`: one JSON object per event.

    Options: `path` (default: the `MURMUR_{{ cookiecutter.entry_name|upper|replace('-', '_') }}_PATH` variable, else
    `murmur-events.jsonl` in the working directory).
    """
    from {{ cookiecutter.module_name }}._emitter import JsonLinesEmitter

    return JsonLinesEmitter(**options)


def __getattr__(name: str) -> Any:
    if name == "JsonLinesEmitter":
        from {{ cookiecutter.module_name }}._emitter import JsonLinesEmitter

        return JsonLinesEmitter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
{%- elif kind == "context" %}
from {{ cookiecutter.module_name }}._context import RecentContextPasser

__all__ = ["RecentContextPasser", "context_passer_factory"]


def context_passer_factory() -> RecentContextPasser:
    """Entry point `murmur.context_passers:{{ cookiecutter.entry_name }}`."""
    return RecentContextPasser()

{%- elif kind == "tools" %}
from typing import Any

from {{ cookiecutter.module_name }}._tools import {{ p }}ToolProvider

__all__ = ["{{ p }}ToolProvider", "tool_provider_factory"]


def tool_provider_factory(spec: Any = None) -> {{ p }}ToolProvider:
    """Entry point `murmur.tool_providers:{{ cookiecutter.entry_name }}`.

    `spec` is the name `"{{ cookiecutter.entry_name }}"` or a mapping such as `{"kind": "{{ cookiecutter.entry_name }}", "name": "text"}`.
    """
    name = spec.get("name") if isinstance(spec, dict) else None
    return {{ p }}ToolProvider(name=name or "{{ cookiecutter.entry_name|replace('-', '_') }}")
{%- elif kind == "command" %}
__all__: list[str] = []
{%- endif %}

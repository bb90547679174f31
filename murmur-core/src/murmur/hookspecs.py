"""The hooks a murmur plugin may implement.

A plugin is a module (or any object) with functions decorated by `hookimpl`, registered
through an entry point in the `murmur.plugins` group:

```python
from murmur.hookspecs import hookimpl


@hookimpl
def murmur_event(event):
    print(event.event_type.value, event.agent_name)
```

Every hook is documented, with its signature, in `docs/plugins.md`. A hook implementation
may accept any subset of a hook's arguments, by name.

The six `murmur_resolve_*` hooks are `firstresult`: the first implementation that returns
something other than `None` wins. The kernel's own plugin implements each of them last, by
looking the name up in the matching entry-point group, so a plugin hook runs first and may
handle names dynamically (aliases, wrappers) or return `None` to pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from murmur.events._model import RuntimeEvent

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("murmur")
"""Marks a function in this module as a hook specification."""

hookimpl = pluggy.HookimplMarker("murmur")
"""Marks a plugin function as the implementation of the hook of the same name."""


@hookspec(firstresult=True)
def murmur_resolve_backend(url: str, options: dict[str, Any]) -> object | None:
    """Return a backend for a broker URL such as `"kafka://host:9092"`, or None to pass."""


@hookspec(firstresult=True)
def murmur_resolve_store(url: str) -> object | None:
    """Return a run/event store for a URL such as `"sqlite:///runs.db"`, or None to pass."""


@hookspec(firstresult=True)
def murmur_resolve_emitter(name: str, options: dict[str, Any]) -> object | None:
    """Return an event emitter for a name such as `"otel"`, or None to pass."""


@hookspec(firstresult=True)
def murmur_resolve_context_passer(name: str) -> object | None:
    """Return a context passer for a name such as `"full"`, or None to pass."""


@hookspec(firstresult=True)
def murmur_resolve_tool_provider(spec: object) -> object | None:
    """Return a tool provider for a name or a mapping with a `"kind"` key, or None to pass."""


@hookspec(firstresult=True)
def murmur_resolve_machine(kind: str, options: dict[str, Any]) -> object | None:
    """Return a machine (where an agent's commands run) of a kind such as `"local"`, or None."""


@hookspec
def murmur_event(event: RuntimeEvent) -> None:
    """Observe every `RuntimeEvent` of every runtime; must return quickly and never block."""


@hookspec
def murmur_runtime_started(runtime: Any) -> None:
    """Called when an `AgentRuntime` has started."""


@hookspec
def murmur_runtime_stopped(runtime: Any) -> None:
    """Called when an `AgentRuntime` has stopped."""


@hookspec
def murmur_server_routes(app: Any) -> None:
    """Mount extra routes on the web app; called only by `murmur serve`."""


@hookspec
def murmur_worker_started(worker: Any) -> None:
    """Called when a broker worker has started consuming tasks."""


@hookspec
def murmur_worker_stopped(worker: Any) -> None:
    """Called when a broker worker has stopped."""

"""Hook implementations: murmur calls these once the plugin is installed.

Every hook is optional; implement only what you need, with any subset of a hook's arguments
(murmur's hook reference lists them all, from `murmur.hookspecs`). Hooks are synchronous and
run in the path of the runtime: return quickly, never block, and never raise on purpose (an
exception is logged and swallowed, and the run goes on).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from murmur.events import RuntimeEvent
from murmur.hookspecs import hookimpl

__all__ = ["STATS"]

STATS: Counter[str] = Counter()
"""What this process has seen: runtimes started and events by type (cheap to keep)."""


@hookimpl
def murmur_runtime_started(runtime: Any) -> None:
    """Count the runtimes started in this process."""
    STATS["runtimes_started"] += 1


@hookimpl
def murmur_event(event: RuntimeEvent) -> None:
    """Count every event of every runtime by type (an in-memory increment: never blocks)."""
    STATS[event.event_type.value] += 1

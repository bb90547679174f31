"""The open spans of this process, found by murmur's ids.

One index per process, shared by every trace emitter in it: a tool on a worker may call a
second runtime (say, one on a broker, to spawn a child on another worker), whose emitter
must find the tool call's span to hang the child under. murmur's trace ids are random
128-bit ids, so emitters never collide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["SPANS", "SpanIndex"]

K = TypeVar("K")

_LIMIT = 65_536


class _Bounded(dict[K, "Span"]):
    """Insertion-ordered map that forgets its oldest entries past `limit`.

    Those are spans whose end never came: a run cancelled without a final event. A `dict`
    subclass so that `get` and `pop(key, None)` on the hot path are the dict's own (C)
    methods, not Python wrappers.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: K, span: Span) -> None:
        self[key] = span
        if len(self) > self.limit:
            del self[next(iter(self))]


class SpanIndex:
    """Open run, tool-call and workflow spans by murmur id."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self.runs: _Bounded[tuple[str, str]] = _Bounded(limit)
        """`(trace_id, origin)`: a run executed here (`"local"`) or sent to a fleet
        (`"dispatch"`); in one process both may exist for one run (an in-process fleet)."""
        self.tools: _Bounded[tuple[str, str]] = _Bounded(limit)
        """`(trace_id, tool_call_id)`: a tool call of a run executed here."""
        self.groups: _Bounded[str] = _Bounded(limit)
        """A group run's trace id."""

    def open_spans(self) -> int:
        """How many spans are open (for tests: every started span was ended)."""
        return len(self.runs) + len(self.tools) + len(self.groups)


SPANS = SpanIndex()
"""This process's index."""

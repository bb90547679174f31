"""The open spans of this process, found by murmur's ids.

One index per process, shared by every trace emitter in it: a tool on a worker may call a
second runtime (say, one on a broker, to spawn a child on another worker), whose emitter
must find the tool call's span to hang the child under. murmur's trace ids are random
128-bit ids, so emitters never collide.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["SPANS", "SpanIndex"]

K = TypeVar("K")

_LIMIT = 65_536


class _Bounded(Generic[K]):
    """Insertion-ordered map that forgets its oldest entries past `limit`.

    Those are spans whose end never came: a run cancelled without a final event.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[K, Span] = OrderedDict()

    def put(self, key: K, span: Span) -> None:
        self._items[key] = span
        if len(self._items) > self.limit:
            self._items.popitem(last=False)

    def get(self, key: K) -> Span | None:
        return self._items.get(key)

    def pop(self, key: K) -> Span | None:
        return self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


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

"""Cardinality guard: attribute values come from a bounded set, whatever the workload."""

from __future__ import annotations

from threading import Lock

__all__ = ["OTHER", "BoundedValues"]

OTHER = "_OTHER"
"""The value every attribute value past the limit is recorded as (the conventions' own
fallback value for `error.type`)."""


class BoundedValues:
    """Admits at most `limit` distinct values per attribute key; later ones become `_OTHER`.

    Agent, tool, model and error-code names are bounded by the code that defines them; this
    guard keeps a workload that invents names (an LLM naming spawned agents) from turning
    into unbounded time series.
    """

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self._seen: dict[str, set[str]] = {}
        self._lock = Lock()

    def __call__(self, key: str, value: object) -> str:
        """The value to record for `key`: `value` as a string, or `_OTHER`."""
        text = str(value)
        seen = self._seen.get(key)
        if seen is not None and text in seen:
            return text
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if text in seen:
                return text
            if len(seen) >= self.limit:
                return OTHER
            seen.add(text)
            return text

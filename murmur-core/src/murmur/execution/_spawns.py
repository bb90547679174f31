"""`SpawnCounter`: how many more runs a runtime (or a run's subtree) may dispatch."""

from __future__ import annotations

__all__ = ["SpawnCounter"]


class SpawnCounter:
    """Counts every run a runtime dispatches (top-level and nested).

    Args:
        cap: most runs to count (None: no cap).
    """

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.count = 0

    @property
    def remaining(self) -> int | None:
        """Runs still allowed (None: no cap)."""
        return None if self.cap is None else max(0, self.cap - self.count)

    def take(self) -> bool:
        """Count one spawn; False (and nothing counted) when the cap is exhausted."""
        if self.cap is not None and self.count >= self.cap:
            return False
        self.count += 1
        return True

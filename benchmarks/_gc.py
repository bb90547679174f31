"""The cyclic garbage collector's work, counted from `gc.callbacks` (shared by the benchmarks)."""

from __future__ import annotations

import time

__all__ = ["GcClock"]


class GcClock:
    """Collections per generation and the CPU time they take (the collecting thread's).

    Append it to `gc.callbacks`. A collection runs in whichever call's allocation crosses a
    generation's threshold, so it lands in the time of whatever code is running then.
    """

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        """Collections of each generation (2: full collections)."""
        self.cpu_s = 0.0
        """All collections."""
        self.full_s = 0.0
        """Full collections: rare, tens of ms each on a big heap."""
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
            return
        spent = time.thread_time() - self._started
        generation = info["generation"]
        self.counts[generation] += 1
        self.cpu_s += spent
        if generation == 2:
            self.full_s += spent

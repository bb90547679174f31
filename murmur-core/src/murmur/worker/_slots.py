"""Counting execution slots, taken in batches (a receive asks for every free slot at once).

Slots are handed out first come, first served, so one busy queue cannot starve another.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Slots"]


class Slots:
    """`capacity` slots; `take` waits for at least one free slot and takes up to `most`.

    Waiters are served in arrival order, and slots are handed to a woken waiter directly,
    so a loop that gives slots back and immediately asks again queues behind the others.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.free = capacity
        self._waiters: deque[tuple[int, asyncio.Future[int]]] = deque()
        self._closed = False

    async def take(self, most: int) -> int:
        """Take between 1 and `most` free slots, waiting for one; 0 once `wake_all` ran."""
        if self._closed:
            return 0
        if self.free > 0 and not self._waiters:
            return self.try_take(most)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        entry = (most, future)
        self._waiters.append(entry)
        try:
            return await future
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif future.done() and not future.cancelled():
                self.give(future.result())
            raise

    def try_take(self, most: int) -> int:
        """Take up to `most` free slots without waiting (maybe 0)."""
        n = max(0, min(self.free, most))
        self.free -= n
        return n

    def give(self, n: int) -> None:
        """Return `n` slots, handing them to waiters in arrival order."""
        if n > 0:
            self.free += n
        while self._waiters and self.free > 0:
            most, future = self._waiters.popleft()
            if future.done():
                continue
            future.set_result(self.try_take(most))

    def wake_all(self) -> None:
        """Release every waiter with 0 (stopping); later `take`s return 0 at once."""
        self._closed = True
        while self._waiters:
            _, future = self._waiters.popleft()
            if not future.done():
                future.set_result(0)

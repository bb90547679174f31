"""`EventBroadcaster`: fans runtime events out to live subscribers without ever blocking.

Each subscriber has a bounded queue. When a subscriber falls behind and its queue is full,
the broadcaster stops queueing for it and remembers the last event it did queue; the
subscriber then re-reads what it missed from the event store (`LocalClient.events` does
this), so a slow consumer loses nothing and never slows the runtime down.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from murmur.events import RuntimeEvent

__all__ = ["EventBroadcaster", "Lagged", "Subscription"]


@dataclass(frozen=True, slots=True)
class Lagged:
    """Returned by `Subscription.get` after events were dropped for this subscriber.

    Attributes:
        after_id: the id of the last event the subscriber received before the gap (None
            when it received none; then `since` bounds the gap).
        since: when the subscription started.
    """

    after_id: str | None
    since: float


class Subscription:
    """One live subscriber's bounded queue; iterate with `get()` until it returns None."""

    def __init__(self, broadcaster: EventBroadcaster, max_queue: int) -> None:
        self._broadcaster = broadcaster
        self._queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue(max_queue)
        self._last_queued: str | None = None
        self._lagged = False
        self._closed = False
        self.since = time.time()
        self.dropped = 0

    def offer(self, event: RuntimeEvent) -> None:
        """Queue `event` unless the subscriber is behind (never blocks)."""
        if self._closed or self._lagged:
            if self._lagged:
                self.dropped += 1
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._lagged = True
            self.dropped += 1
            return
        self._last_queued = event.id

    async def get(self) -> RuntimeEvent | Lagged | None:
        """The next event; a `Lagged` marker after a gap; None once closed."""
        if self._lagged and self._queue.empty():
            self._lagged = False
            return Lagged(self._last_queued, self.since)
        return await self._queue.get()

    def close(self) -> None:
        """Stop this subscription: `get()` returns None once the queue is drained."""
        if self._closed:
            return
        self._closed = True
        self._broadcaster.unsubscribe(self)
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()


class EventBroadcaster:
    """An event emitter that feeds live subscribers (the server's `/events/stream`).

    ```python
    broadcaster = EventBroadcaster(max_queue=1000)
    runtime = AgentRuntime(event_emitter=broadcaster)
    subscription = broadcaster.subscribe()
    event = await subscription.get()
    ```

    Args:
        max_queue: events buffered per subscriber before it is marked as lagging.
    """

    def __init__(self, *, max_queue: int = 1000) -> None:
        if max_queue < 1:
            raise ValueError("EventBroadcaster(max_queue=...) must be >= 1")
        self.max_queue = max_queue
        self._subscribers: set[Subscription] = set()
        self._dropped_closed = 0

    async def emit(self, event: RuntimeEvent) -> None:
        """Deliver `event` to every subscriber (an `EventEmitter`)."""
        self.publish(event)

    def publish(self, event: RuntimeEvent) -> None:
        """Synchronous form of `emit`."""
        for subscriber in tuple(self._subscribers):
            subscriber.offer(event)

    def subscribe(self) -> Subscription:
        """A new live subscription; close it when done."""
        subscription = Subscription(self, self.max_queue)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget a subscription (called by `Subscription.close`)."""
        if subscription in self._subscribers:
            self._subscribers.discard(subscription)
            self._dropped_closed += subscription.dropped

    def close(self) -> None:
        """End every subscription (streams finish after their queued events)."""
        for subscriber in tuple(self._subscribers):
            subscriber.close()

    @property
    def subscriber_count(self) -> int:
        """Live subscriptions."""
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        """Events not queued because their subscriber was behind (re-read from the store)."""
        return self._dropped_closed + sum(s.dropped for s in self._subscribers)

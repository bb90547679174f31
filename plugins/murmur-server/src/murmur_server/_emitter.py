"""`SSEEventEmitter`: the emitter whose events feed `/events/stream`."""

from __future__ import annotations

from murmur_client import EventBroadcaster

__all__ = ["SSEEventEmitter"]


class SSEEventEmitter(EventBroadcaster):
    """Feeds the server's `/events/stream` (and `LocalClient.events()`) with live events.

    The server installs one automatically, after the event store, so that an event a
    stream delivers can always be resumed from (`Last-Event-ID`). Pass your own to
    choose the per-subscriber buffer, or resolve it by name (`"sse"`) through the plugin
    host:

    ```python
    runtime = AgentRuntime(event_emitter=SSEEventEmitter(max_queue=5000))
    app = create_app(runtime)
    ```

    Each subscriber has a bounded queue; a subscriber that falls behind never blocks the
    runtime: it re-reads what it missed from the event store.

    Args:
        max_queue: events buffered per subscriber.
    """

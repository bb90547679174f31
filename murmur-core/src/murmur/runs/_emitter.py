"""`StoreEventEmitter`: every event of a runtime recorded into its event store."""

from __future__ import annotations

from murmur.events._model import RuntimeEvent
from murmur.runs._base import EventStore

__all__ = ["StoreEventEmitter"]


class StoreEventEmitter:
    """Records every event into an `EventStore` (wired automatically when a store is set).

    An event the store cannot take (not JSON, store unreachable) is logged and counted in
    `failed`, and never fails the run that emitted it.
    """

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.failed = 0

    async def emit(self, event: RuntimeEvent) -> None:
        """Append the event; a failure is logged and counted, never raised."""
        try:
            await self.store.append(event)
        except Exception as exc:
            self.failed += 1
            import structlog  # only on a failure: structlog pulls rich in at import

            structlog.get_logger("murmur.runs").error(
                "store_event_append_failed",
                event_id=event.id,
                event_type=event.event_type.value,
                trace_id=event.trace_id,
                error=str(exc),
                failed_total=self.failed,
            )

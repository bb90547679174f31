"""`BrokerEventBridge`: worker events reach the publisher's emitter.

On the worker it is an event emitter: an event of a task being executed goes to that task's
caller, on the caller's reply channel (the `JobBackend` re-emits it on the caller's runtime);
any other event (worker started / stopped / heartbeat, task rejected) goes to the fleet
event channel. On the publisher side, `forward_to(runtime)` re-emits fleet events there.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from murmur.events._model import RuntimeEvent
from murmur.transport._envelope import (
    CALLER_LIFECYCLE_EVENTS,
    EventFrame,
    decode_frame,
    encode_frame,
)
from murmur.transport._signing import EnvelopeSigner, SigningKeys

if TYPE_CHECKING:
    from murmur.events._emitters import EventEmitter
    from murmur.transport._base import Subscription, Transport

__all__ = ["BrokerEventBridge", "TaskRoute", "current_route"]

_PUBLISH_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class TaskRoute:
    """Where the events of the task being executed go: its caller's reply channel."""

    reply_to: str
    task_id: str


current_route: ContextVar[TaskRoute | None] = ContextVar("murmur_task_route", default=None)
"""Set by the worker around each task it executes (so nested runs inherit it)."""


class BrokerEventBridge:
    """Relays events between workers and the publishers of their tasks.

    Args:
        transport: The broker transport (connected by its owner).
        signing_key: HMAC key(s): frames are signed, and received ones must verify.
        signer: An `EnvelopeSigner` to share with the owner (instead of `signing_key`).

    Example:
        ```python
        bridge = BrokerEventBridge(transport)
        runtime = AgentRuntime(event_emitter=MultiEventEmitter([LogEventEmitter(), bridge]))
        ```
    """

    def __init__(
        self,
        transport: Transport,
        *,
        signing_key: SigningKeys = None,
        signer: EnvelopeSigner | None = None,
    ) -> None:
        self.transport = transport
        self.signer = signer if signer is not None else EnvelopeSigner(signing_key)
        self.relayed = 0
        """Events published (worker side)."""
        self.dropped = 0
        """Events not published because the broker could not take them at the time (a
        transient failure: down, restarting, a timeout). Events are best effort."""
        self.rejected = 0
        self._subscription: Subscription | None = None
        self._forwarder: asyncio.Task[None] | None = None

    # -- worker side: an emitter ------------------------------------------------------

    async def emit(self, event: RuntimeEvent) -> None:
        """Publish one event to its task's caller, or to the fleet channel.

        The lifecycle events of the task itself (`CALLER_LIFECYCLE_EVENTS`) stay on the
        worker: the caller's pipeline emits its own. This is the one place they are
        filtered.
        """
        route = current_route.get()
        if (
            route is not None
            and event.task_id == route.task_id
            and event.event_type in CALLER_LIFECYCLE_EVENTS
        ):
            return
        frame = EventFrame(event=event, task_id=route.task_id if route is not None else None)
        data = encode_frame(self.signer.sign(frame.body()))
        try:
            async with asyncio.timeout(_PUBLISH_TIMEOUT):
                if route is None:
                    await self.transport.publish_event(data)
                else:
                    await self.transport.publish_result(route.reply_to, data)
        except Exception as exc:
            if not self.transport.transient(exc):
                raise  # a refusal or a bug: the runtime logs it (`emitter_failed`)
            self.dropped += 1
            return  # events are best effort; the run goes on
        self.relayed += 1

    # -- publisher side: re-emit fleet events -----------------------------------------

    async def forward_to(self, target: Any) -> None:
        """Subscribe to the fleet event channel and re-emit each event on `target` until `aclose`.

        `target` is an `AgentRuntime`, whose `emit` also notifies plugins, or any `EventEmitter`.
        """
        if self._forwarder is not None:
            return
        self._subscription = await self.transport.subscribe_events()
        self._forwarder = asyncio.create_task(
            self._forward(self._subscription, target), name="murmur-fleet-events"
        )

    async def _forward(self, subscription: Subscription, target: EventEmitter) -> None:
        async for data in subscription:
            body = decode_frame(data)
            if body is None or body.get("kind") != "event":
                continue
            if self.signer.verify(body) is not None:
                self.rejected += 1
                continue
            try:
                frame = EventFrame.model_validate(body)
            except ValidationError:
                self.rejected += 1
                continue
            with contextlib.suppress(Exception):
                await target.emit(frame.event)

    async def aclose(self) -> None:
        """Stop forwarding (the transport stays open: its owner closes it)."""
        if self._forwarder is not None:
            self._forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._forwarder
            self._forwarder = None
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.aclose()
            self._subscription = None

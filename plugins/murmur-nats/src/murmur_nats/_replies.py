"""Results on core NATS, confirmed by the caller: a result nobody received is never acked.

Core NATS drops a message nobody is subscribed to. A caller reconnecting after a server
restart has no subscription for a moment, so a plain publish would lose results of tasks the
worker then acks. A result is therefore a request: the caller's subscription answers once it
holds the frame. "No responders" means nobody is subscribed: the sender tries again for
`grace_s` (long enough for a caller to reconnect), then takes the caller for gone and drops
the frame, as core NATS would; later frames to that caller are dropped at once for a while,
so a dead caller costs one grace period, not one per task or event. No answer at all (the
server is down) raises, and the worker leaves the task un-acked for redelivery.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import structlog

from murmur.core.errors import SpawnError

if TYPE_CHECKING:
    from nats.aio.client import Client

__all__ = ["ReplySender"]

log = structlog.get_logger("murmur.nats")

_GONE_MEMORY_S = 60.0
_GONE_MAX = 4096
_BACKOFF_S = (0.05, 0.5)


class ReplySender:
    """Sends frames to callers' reply subjects and waits for their receipt.

    Args:
        timeout_s: How long one request waits for the caller's receipt.
        grace_s: How long a subject with no subscriber is tried again before its caller is
            taken for gone.
        broker: The broker URL for messages (credentials redacted).
    """

    def __init__(self, *, timeout_s: float, grace_s: float, broker: str) -> None:
        self.timeout_s = timeout_s
        self.grace_s = grace_s
        self.broker = broker
        self._gone: dict[str, float] = {}

    async def send(self, connection: Client, subject: str, data: bytes) -> None:
        """Deliver `data` to the caller on `subject` (see the module docstring).

        Raises:
            SpawnError: transient `broker_error`, no receipt within `timeout_s`.
        """
        from nats.errors import NoRespondersError

        deadline = time.monotonic() + self.grace_s
        delay, longest = _BACKOFF_S
        while True:
            try:
                await connection.request(subject, data, timeout=self.timeout_s)
            except NoRespondersError:
                now = time.monotonic()
                if self._gone.get(subject, 0.0) > now or now + delay > deadline:
                    self._forget(subject, now)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
                continue
            except TimeoutError:  # nats.errors.TimeoutError subclasses it
                raise SpawnError(
                    f"the caller on reply subject {subject!r} did not confirm a result within "
                    f"{self.timeout_s:g}s on {self.broker}; the task stays un-acked and is "
                    "delivered again after the ack wait (is the NATS server up?)",
                    code="broker_error",
                    details={"transient": True, "broker": self.broker},
                ) from None
            self._gone.pop(subject, None)
            return

    def _forget(self, subject: str, now: float) -> None:
        if subject not in self._gone:
            log.info(
                "no caller subscribed to a reply subject; dropping its frames",
                subject=subject,
                broker=self.broker,
                grace_s=self.grace_s,
            )
        if len(self._gone) >= _GONE_MAX:
            self._gone = {k: v for k, v in self._gone.items() if v > now}
        self._gone[subject] = now + _GONE_MEMORY_S

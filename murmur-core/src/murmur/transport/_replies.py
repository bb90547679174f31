"""`ReplyGrace`: what a transport does with a result its caller did not receive.

A caller that is reconnecting after a broker restart has, for a moment, no subscription on
its reply channel; a broker that routes nothing to nobody (core NATS, an AMQP exchange
without the caller's exclusive queue) would drop a result sent then, and the worker would
ack a task whose result is lost. A transport that can tell "nobody received this" (NATS "no
responders", an AMQP mandatory publish returned) sends through `ReplyGrace`: the frame is
tried again for `grace_s`, long enough for a caller to reconnect; after that the caller is
taken for gone and the frame dropped; for a while later frames to the same caller are tried
once, without the grace period, so a dead caller costs one grace period, not one per task
or event, and a caller that comes back late gets its results again at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from murmur.core.logs import get_logger

__all__ = ["ReplyGrace"]

log = get_logger("murmur.transport")

_GONE_MEMORY_S = 60.0
_GONE_MAX = 4096
_BACKOFF_S = (0.05, 0.5)


class ReplyGrace:
    """Retries a reply nobody received for `grace_s`, then drops it (see the module doc).

    Args:
        grace_s: How long a reply channel with no subscriber is tried again.
        broker: The broker URL for logs (credentials redacted).
    """

    def __init__(self, grace_s: float, *, broker: str) -> None:
        self.grace_s = grace_s
        self.broker = broker
        self._gone: dict[str, float] = {}

    async def deliver(self, channel: str, attempt: Callable[[], Awaitable[bool]]) -> bool:
        """Run `attempt` until it returns True (the caller has the frame), or for `grace_s`.

        Args:
            channel: The caller's reply channel (what is remembered as gone).
            attempt: Sends the frame once; returns False when nobody is subscribed to
                `channel`, raises when the broker did not answer (the worker then leaves
                the task un-acked, to be delivered again).

        Returns:
            True when delivered, False when the caller was taken for gone.
        """
        now = time.monotonic()
        gone = self._gone.get(channel, 0.0) > now  # tried once: a caller may come back
        deadline = now + (0.0 if gone else self.grace_s)
        delay, longest = _BACKOFF_S
        while not await attempt():
            now = time.monotonic()
            if now + delay > deadline:
                self._forget(channel, now)
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
        self._gone.pop(channel, None)
        return True

    def _forget(self, channel: str, now: float) -> None:
        if self._gone.get(channel, 0.0) <= now:
            log.info(
                "no caller subscribed to a reply channel; dropping its frames",
                channel=channel,
                broker=self.broker,
                grace_s=self.grace_s,
            )
        if len(self._gone) >= _GONE_MAX:
            self._gone = {k: v for k, v in self._gone.items() if v > now}
        self._gone[channel] = now + _GONE_MEMORY_S

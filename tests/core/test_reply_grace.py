"""`ReplyGrace`: a result nobody received is retried for a grace period, then dropped."""

from __future__ import annotations

import time

import pytest

from murmur.core.errors import SpawnError
from murmur.transport import ReplyGrace


class _Caller:
    """A reply channel whose caller is subscribed or not; counts the attempts."""

    def __init__(self, *, subscribed: bool) -> None:
        self.subscribed = subscribed
        self.attempts = 0

    async def send(self) -> bool:
        self.attempts += 1
        return self.subscribed


async def test_a_reply_to_a_subscribed_caller_is_delivered_at_once() -> None:
    """One attempt, delivered."""
    caller = _Caller(subscribed=True)
    delivered = await ReplyGrace(5.0, broker="b").deliver("c", caller.send)
    assert (delivered, caller.attempts) == (True, 1)


async def test_a_reply_nobody_receives_is_retried_for_the_grace_period_then_dropped() -> None:
    """A caller still reconnecting gets the grace period; after it, the reply is dropped."""
    caller = _Caller(subscribed=False)
    started = time.monotonic()
    delivered = await ReplyGrace(0.4, broker="b").deliver("c", caller.send)
    assert (delivered, caller.attempts > 1) == (False, True)
    assert time.monotonic() - started < 2.0


async def test_a_gone_caller_costs_one_attempt_and_a_returning_one_is_served_again() -> None:
    """After a caller was taken for gone, its later replies are tried once (no grace
    period); once it is subscribed again they are delivered."""
    grace = ReplyGrace(0.3, broker="b")
    caller = _Caller(subscribed=False)
    await grace.deliver("c", caller.send)
    caller.attempts = 0
    assert (await grace.deliver("c", caller.send), caller.attempts) == (False, 1)
    caller.subscribed = True
    assert await grace.deliver("c", caller.send) is True
    caller.subscribed, caller.attempts = False, 0
    await grace.deliver("c", caller.send)
    assert caller.attempts > 1  # delivered since: the grace period applies again


async def test_a_broker_that_does_not_answer_raises() -> None:
    """An attempt that raises (no answer from the broker) is not retried here: the worker
    leaves the task un-acked for redelivery."""

    async def broken() -> bool:
        raise SpawnError("no answer", code="broker_error", details={"transient": True})

    with pytest.raises(SpawnError):
        await ReplyGrace(5.0, broker="b").deliver("c", broken)

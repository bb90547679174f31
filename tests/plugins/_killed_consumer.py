"""A consumer process SIGKILLed while it holds a task: the broker hands the task to another
consumer. Shared by the broker plugin tests (NATS, RabbitMQ, Kafka); each names its broker's
mechanism (ack wait, requeue on connection loss, rebalance)."""

from __future__ import annotations

import asyncio

_HOLDER = """
import asyncio, sys
from murmur.transport import resolve_transport

async def main():
    url, window_ms = sys.argv[1], int(sys.argv[2])
    transport = resolve_transport(url)
    await transport.connect()
    consumer = await transport.consume_tasks(
        "doomed", consumer_id="doomed", prefetch=1, reclaim_min_idle_ms=window_ms
    )
    got = []
    while not got:
        got = await consumer.receive(1, 1.0)
    print(got[0].message_id, flush=True)
    while True:  # a live worker on a long task: it touches the delivery until it is killed
        await consumer.touch(got[0])
        await asyncio.sleep(window_ms / 4000)

asyncio.run(main())
"""


async def killed_holder_hands_over(url: str, window_ms: int, settle_s: float) -> None:
    """Publish a task, let a consumer process take it and get SIGKILLed, then check that a
    new consumer receives it: the same message id, a higher delivery count."""
    import sys

    from murmur.testing.transport import next_delivery
    from murmur.transport import resolve_transport

    transport = resolve_transport(url)
    await transport.connect()
    try:
        await transport.publish_task("doomed", b"survive me")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _HOLDER, url, str(window_ms), stdout=asyncio.subprocess.PIPE
        )
        try:
            assert proc.stdout is not None
            taken = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
            await asyncio.sleep(1.0)  # it holds the task (Kafka: its metadata commit lands)
        finally:
            proc.kill()
            await proc.wait()
        survivor = await transport.consume_tasks(
            "doomed", consumer_id="survivor", prefetch=1, reclaim_min_idle_ms=window_ms
        )
        got = await next_delivery(survivor, settle_s)
        assert [d.data for d in got] == [b"survive me"]
        assert taken == got[0].message_id
        assert got[0].delivery_count >= 2
        await survivor.ack(got[0])
    finally:
        await transport.close()

"""RabbitMQ refusing a publish (`basic.nack`): an event still reaches the other subscribers, a
task is a transient typed error and is published again, and a run through a fleet completes.

A queue refuses a publish when it is being deleted while the message is routed to it (an
event subscriber leaving: what made the subscribe-then-publish contract test fail, about one
round in 6,000 under load, of the 800 it runs here), when its process fails, or when a policy
rejects publishes while it is full.
The last is what these tests use: it makes a real broker refuse on demand.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

import aiormq.exceptions
import pytest
from murmur_rabbitmq._transport import RabbitTransport

from murmur import Agent, TaskSpec
from murmur.core.errors import SpawnError
from murmur.testing import require_service
from murmur.testing._fleet import Fleet
from murmur.testing._services import services_required

from .test_rabbitmq_transport import HOST, PORT

pytestmark = pytest.mark.services


@pytest.fixture
def namespace() -> str:
    """A namespace of the test's own (its queues expire once unused)."""
    require_service("RabbitMQ", HOST, PORT)
    return f"refuse-{uuid.uuid4().hex[:12]}"


def _url(namespace: str) -> str:
    return f"amqp://guest:guest@{HOST}:{PORT}/?namespace={namespace}&queue_expires_ms=60000"


def _rabbitmqctl(*args: str, missing_ok: bool = False) -> str:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        message = "rabbitmqctl is not on PATH (it sets the policy that makes RabbitMQ refuse)"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)
    if missing_ok and "does not exist" in done.stderr:
        return done.stdout
    assert done.returncode == 0, f"rabbitmqctl {' '.join(args)}: {done.stderr}"
    return done.stdout


def _refuse(policy: str, queue: str, max_length: int = 0) -> None:
    """Set `policy`: `queue` (and only it) refuses publishes while it holds `max_length`."""
    definition = f'{{"max-length": {max_length}, "overflow": "reject-publish"}}'
    _rabbitmqctl("set_policy", "--apply-to", "queues", policy, f"^{re.escape(queue)}$", definition)


async def _refused(transport: RabbitTransport, agent: str) -> SpawnError:
    """Publish tasks until the queue refuses one (the policy takes a moment to apply)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            await transport.publish_task(agent, b"probe")
        except SpawnError as exc:
            return exc
        await asyncio.sleep(0.1)
    raise AssertionError("RabbitMQ took every task for 30 s under a policy refusing them")


@pytest.fixture
async def refusing(namespace: str) -> AsyncIterator[str]:
    """The name of the test's refusing policy (set by the test, cleared afterwards)."""
    name = f"{namespace}-refuse"
    yield name
    await asyncio.to_thread(_rabbitmqctl, "clear_policy", name, missing_ok=True)


async def test_an_event_a_subscriber_queue_refuses_still_reaches_the_others(
    namespace: str,
) -> None:
    """A refused fan-out event is no failure of the publish; every other subscriber gets it."""
    import aio_pika

    publisher = RabbitTransport(_url(namespace))
    listener = RabbitTransport(_url(namespace))
    await publisher.connect()
    await listener.connect()
    connection = await aio_pika.connect(f"amqp://guest:guest@{HOST}:{PORT}/")
    try:
        subscription = await listener.subscribe_events()
        channel = await connection.channel(publisher_confirms=True)
        full = await channel.declare_queue(
            f"{namespace}:events:full",
            exclusive=True,
            arguments={"x-max-length": 0, "x-overflow": "reject-publish"},
        )
        await full.bind("amq.topic", routing_key=publisher._events_key())
        # The broker does refuse: a confirmed publish on that key comes back as a nack.
        exchange = await channel.get_exchange("amq.topic")
        with pytest.raises(aio_pika.exceptions.DeliveryError):
            await exchange.publish(aio_pika.Message(b"direct"), routing_key=publisher._events_key())

        bodies = [f"event {n}".encode() for n in range(20)]
        for body in bodies:
            await publisher.publish_event(body)  # never raises for the refusing queue

        async with asyncio.timeout(10):
            received = [await anext(subscription) for _ in range(len(bodies) + 1)]
        assert received == [b"direct", *bodies]
        await subscription.aclose()
    finally:
        await connection.close()
        await publisher.close()
        await listener.close()


async def test_a_refused_task_is_a_transient_typed_error(namespace: str, refusing: str) -> None:
    """publish_task: a nack is `SpawnError(code="broker_error", transient)` naming the queue.

    A full quorum queue (a max-length policy, `reject-publish`) refuses until consumers
    take its tasks; then it takes tasks again.
    """
    import aio_pika

    transport = RabbitTransport(_url(namespace))  # quorum queues
    await transport.connect()
    connection = await aio_pika.connect(f"amqp://guest:guest@{HOST}:{PORT}/")
    try:
        queue = transport._task_queue("writer")
        await transport._declare_task_queue(queue)
        await asyncio.to_thread(_refuse, refusing, queue, 3)
        error = await _refused(transport, "writer")
        assert error.code == "broker_error"
        assert error.details["transient"] is True
        assert error.details["queue"] == queue
        assert "refused a task" in error.message
        assert "guest:***@" in error.message
        assert isinstance(error.__cause__, aiormq.exceptions.DeliveryError)

        channel = await connection.channel()
        held = await channel.get_queue(queue, ensure=False)
        while (message := await held.get(fail=False)) is not None:
            await message.ack()  # consumers take every task it holds
        await transport.publish_task("writer", b"task")  # so it takes tasks again
    finally:
        await connection.close()
        await transport.close()


async def test_a_run_whose_task_the_queue_refuses_completes_once_it_takes_it(
    namespace: str, refusing: str
) -> None:
    """JobBackend publishes a refused task again until RabbitMQ takes it: the run completes."""
    url = _url(namespace) + "&queue_type=classic"  # a classic queue refuses every publish
    agent = Agent(name="writer", model="test")
    fleet = Fleet(url, reclaim_min_idle_ms=30_000)
    probe = RabbitTransport(url)
    await probe.connect()
    try:
        queue = probe._task_queue("writer")
        await probe._declare_task_queue(queue)
        await asyncio.to_thread(_refuse, refusing, queue)
        await _refused(probe, "writer")
        await asyncio.to_thread(_rabbitmqctl, "purge_queue", queue)  # the probes taken before
        await fleet.worker([agent])
        runtime = await fleet.runtime()
        run = asyncio.create_task(runtime.run(agent, TaskSpec(input="hello")))
        await asyncio.sleep(1.5)
        assert not run.done(), "the run finished while its queue refused every publish"
        await asyncio.to_thread(_rabbitmqctl, "clear_policy", refusing)
        async with asyncio.timeout(60):
            result = await run
        assert result.is_ok(), result.error
    finally:
        await probe.close()
        await fleet.aclose()

"""The worker's event relay: events are best effort, a broker that cannot take one is no
failure of the run, and what it could not publish is counted."""

from __future__ import annotations

import uuid

import pytest

from murmur.events import EventType, RuntimeEvent
from murmur.transport import MemoryTransport
from murmur.worker import BrokerEventBridge


class _Refusing(MemoryTransport):
    """A memory:// transport whose event publishes fail with `error`."""

    error: Exception = OSError("broker unreachable")

    async def publish_event(self, data: bytes) -> None:
        raise self.error


class BrokerUnavailableError(Exception):
    """A client exception named like a broker outage (what `Transport.transient` reads)."""


class BrokerRefusedError(Exception):
    """A client exception that is no outage: the broker refused the request."""


def _event() -> RuntimeEvent:
    return RuntimeEvent(event_type=EventType.WORKER_HEARTBEAT, agent_name="worker")


@pytest.mark.parametrize(
    "error",
    [OSError("down"), TimeoutError(), BrokerUnavailableError("restarting")],
    ids=["os-error", "timeout", "client-outage"],
)
async def test_an_event_the_broker_cannot_take_now_is_dropped_and_counted(
    error: Exception,
) -> None:
    """A transient failure (down, restarting, a timeout) drops the event: nothing raised."""
    transport = _Refusing(f"memory://?namespace=r-{uuid.uuid4().hex}")
    transport.error = error
    await transport.connect()
    bridge = BrokerEventBridge(transport)
    await bridge.emit(_event())
    assert (bridge.dropped, bridge.relayed) == (1, 0)
    await transport.close()


async def test_an_event_the_broker_refuses_is_an_error_the_runtime_logs() -> None:
    """Anything else (a refusal, a bug) is raised: the runtime logs it (`emitter_failed`)."""
    transport = _Refusing(f"memory://?namespace=r-{uuid.uuid4().hex}")
    transport.error = BrokerRefusedError("not allowed")
    await transport.connect()
    bridge = BrokerEventBridge(transport)
    with pytest.raises(BrokerRefusedError):
        await bridge.emit(_event())
    assert (bridge.dropped, bridge.relayed) == (0, 0)
    await transport.close()


async def test_a_published_event_is_counted_as_relayed() -> None:
    """The counters' baseline: an event the broker takes is relayed."""
    transport = MemoryTransport(f"memory://?namespace=r-{uuid.uuid4().hex}")
    await transport.connect()
    bridge = BrokerEventBridge(transport)
    await bridge.emit(_event())
    assert (bridge.dropped, bridge.relayed) == (0, 1)
    await transport.close()

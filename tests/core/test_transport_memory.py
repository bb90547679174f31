"""The in-process `memory://` transport passes the transport contract suite."""

from __future__ import annotations

import uuid

import pytest

from murmur.testing.transport import TransportContract
from murmur.transport import MemoryTransport, Transport


class TestMemoryTransport(TransportContract):
    """memory:// behaves like a real broker."""

    @pytest.fixture
    def transport_url(self) -> str:
        """A hub unique to the test."""
        return f"memory://test-{uuid.uuid4().hex}"


class TestMemoryTransportBuiltDirectly(TransportContract):
    """The suite also runs on a transport built without the plugin host."""

    reclaim_min_idle_ms = 200

    @pytest.fixture
    def transport_url(self) -> str:
        """A namespace unique to the test, on the default hub."""
        return f"memory://?namespace=t-{uuid.uuid4().hex}"

    def build_transport(self, url: str) -> Transport:
        """Construct MemoryTransport directly."""
        return MemoryTransport(url)


def test_memory_url_resolves_to_a_job_backend_over_a_memory_transport() -> None:
    """AgentRuntime(broker="memory://") runs on a JobBackend over MemoryTransport."""
    from murmur import AgentRuntime
    from murmur.backends import JobBackend

    runtime = AgentRuntime(broker="memory://x")
    assert isinstance(runtime.backend, JobBackend)
    assert isinstance(runtime.backend.transport, MemoryTransport)

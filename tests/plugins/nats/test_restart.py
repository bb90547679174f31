"""A NATS JetStream server restarted under load: with file storage no run is lost and none is
answered twice; with memory storage the caller publishes again what the restart lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from murmur.testing.restart import (
    BrokerRestartScenario,
    PrivateBroker,
    ServerProcess,
    free_port,
    require_executable,
)

pytestmark = pytest.mark.services


class TestNatsRestart(BrokerRestartScenario):
    """A private `nats-server -js` (file storage in the test's directory) on a spare port."""

    durable = True

    @pytest.fixture
    async def broker(self, tmp_path: Path) -> AsyncIterator[PrivateBroker]:
        """`nats-server -js -sd <tmp>`, restarted by the scenario with the same store."""
        executable = require_executable("nats-server", "/usr/sbin/nats-server")
        port = free_port()
        server = ServerProcess(
            [executable, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")],
            port=port,
            url=f"nats://127.0.0.1:{port}?namespace=restart",
            log=tmp_path / "nats-server.log",
        )
        await server.start()
        yield server
        await server.aclose()


class TestNatsMemoryStorageRestart(BrokerRestartScenario):
    """`storage=memory`: the restarted server has lost every stream, consumer and nonce; the
    caller sees the new server id and publishes again, workers declare their consumer
    again."""

    durable = False

    @pytest.fixture
    async def broker(self, tmp_path: Path) -> AsyncIterator[PrivateBroker]:
        """`nats-server -js` whose task streams live in memory."""
        executable = require_executable("nats-server", "/usr/sbin/nats-server")
        port = free_port()
        server = ServerProcess(
            [executable, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(tmp_path / "js")],
            port=port,
            url=f"nats://127.0.0.1:{port}?namespace=restart&storage=memory",
            log=tmp_path / "nats-server.log",
        )
        await server.start()
        yield server
        await server.aclose()

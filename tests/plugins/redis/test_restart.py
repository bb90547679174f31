"""A Redis without persistence restarted under load: what it wiped is published again by the
caller, or fails typed before its deadline; nothing hangs."""

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


class TestRedisRestart(BrokerRestartScenario):
    """A private `redis-server --save "" --appendonly no` on a spare port: a restart empties
    it (streams, consumer groups, pending entries), and its `run_id` changes."""

    durable = False

    @pytest.fixture
    async def broker(self, tmp_path: Path) -> AsyncIterator[PrivateBroker]:
        """The server, started; stopped after the test."""
        executable = require_executable("redis-server")
        port = free_port()
        command = [
            executable, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(tmp_path),
        ]  # fmt: skip
        server = ServerProcess(
            command,
            port=port,
            url=f"redis://127.0.0.1:{port}/0?namespace=restart",
            log=tmp_path / "redis-server.log",
        )
        await server.start()
        yield server
        await server.aclose()

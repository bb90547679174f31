"""A RabbitMQ node restarted under load: quorum queues lose no run and answer none twice."""

from __future__ import annotations

import contextlib
import os
import uuid
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

_SCRIPTS = "/usr/lib/rabbitmq/bin"
"""Debian's `/usr/sbin/rabbitmq-server` switches to the `rabbitmq` user; these do not."""


def _ports() -> tuple[int, int]:
    """An AMQP port and a distribution port; the CLI tools take the 10 ports from
    distribution + 10000, so the AMQP port must not be among them."""
    while True:
        amqp, dist = free_port(), free_port()
        if dist + 10_010 < 65_536 and not dist + 10_000 <= amqp <= dist + 10_010:
            return amqp, dist


class PrivateRabbit(ServerProcess):
    """A second RabbitMQ node of the test's own: its own name, ports, cookie and data
    directory. SIGTERM stops it gracefully (the `rabbitmq-server` script stops the node
    as `rabbitmqctl stop` would); it starts again on the same data."""

    def __init__(self, tmp_path: Path) -> None:
        server = require_executable(f"{_SCRIPTS}/rabbitmq-server", "rabbitmq-server")
        amqp, dist = _ports()
        node = f"murmurtest-{uuid.uuid4().hex[:8]}@localhost"
        home = tmp_path / "rabbit-home"
        home.mkdir()
        plugins = tmp_path / "enabled_plugins"
        plugins.write_text("[].")
        (tmp_path / "rabbitmq-env.conf").write_text("")
        (tmp_path / "rabbitmq.conf").write_text("loopback_users = none\n")
        env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_CONF_ENV_FILE": str(tmp_path / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(tmp_path / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(tmp_path / "mnesia"),
            "RABBITMQ_LOG_BASE": str(tmp_path / "rabbit-log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(plugins),
            "RABBITMQ_PID_FILE": str(tmp_path / "rabbit.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        super().__init__(
            [server],
            port=amqp,
            url=f"amqp://guest:guest@127.0.0.1:{amqp}/?namespace=restart",
            log=tmp_path / "rabbitmq-server.log",
            env=env,
            ready_timeout_s=60.0,
            stop_timeout_s=30.0,
        )


class TestRabbitRestart(BrokerRestartScenario):
    """A private RabbitMQ node on spare ports; quorum task queues survive its restart."""

    durable = True

    @pytest.fixture
    async def broker(self, tmp_path: Path) -> AsyncIterator[PrivateBroker]:
        """The node, started; stopped (and killed if need be) after the test."""
        node = PrivateRabbit(tmp_path)
        try:
            await node.start()
            yield node
        finally:
            with contextlib.suppress(Exception):
                await node.aclose()

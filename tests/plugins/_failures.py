"""Failures a fleet caller meets, on any broker: each is a typed result, never a raise.

Subclass `BrokerFailureScenarios` and provide `broker_url` (a live broker, a namespace of
the test's own) and `dead_url` (the same broker kind at a port nothing listens on, with a
password in the URL that must never appear in an error).
"""

from __future__ import annotations

import time
from typing import ClassVar

import pytest

from murmur import Agent, AgentRuntime, RuntimeOptions, TaskSpec
from murmur.core.errors import MurmurError
from murmur.testing.fleet_processes import Number, doubler

SECRET = "s3cret-pw"


class BrokerFailureScenarios:
    """Broker down, deadline passed with no worker: typed results naming the broker."""

    connect_bound_s: ClassVar[float] = 20.0
    """How long a run against a dead broker may take to fail."""

    @pytest.fixture
    def broker_url(self) -> str:
        """Override: a live broker URL with a namespace unique to the test."""
        raise NotImplementedError

    @pytest.fixture
    def dead_url(self) -> str:
        """Override: a URL of this broker kind where nothing listens, with `SECRET` in it."""
        raise NotImplementedError

    async def test_a_broker_that_is_down_gives_typed_results_that_name_it(
        self, dead_url: str
    ) -> None:
        """run() and gather() against a dead broker return failed results (no raise) whose
        error names the broker with its password redacted."""
        runtime = AgentRuntime(RuntimeOptions(timeout_seconds=30), broker=dead_url)
        started = time.monotonic()
        try:
            single = await runtime.run(doubler, TaskSpec(input=Number(n=1)))
            many = await runtime.gather(doubler, [Number(n=i) for i in range(5)])
        finally:
            await runtime.aclose()
        assert time.monotonic() - started < self.connect_bound_s * 2
        for result in [single, *many]:
            assert not result.is_ok()
            error = result.error
            assert isinstance(error, MurmurError)
            assert error.code == "broker_unavailable", error
            assert error.details.get("transient") is True
            assert SECRET not in str(error)
            assert SECRET not in repr(error.to_dict())
            assert "***" in str(error), str(error)

    async def test_a_run_nobody_serves_fails_with_a_typed_timeout_naming_the_broker(
        self, broker_url: str
    ) -> None:
        """No worker consumes the agent: the run fails at its deadline with code `timeout`
        and a message naming the broker and the command that would serve it."""
        lonely = Agent(name="nobody-serves-this", model="test")
        async with AgentRuntime(RuntimeOptions(timeout_seconds=5.0), broker=broker_url) as rt:
            result = await rt.run(lonely, "hello")
        assert result.error is not None
        assert result.error.code == "timeout"
        message = str(result.error)
        assert "murmur worker start --agents nobody-serves-this" in message
        assert broker_url.split("?")[0].split("@")[-1].rstrip("/") in message

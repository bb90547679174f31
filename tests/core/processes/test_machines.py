"""Machines: `machine()` and `agent.exec` run commands where an agent works."""

from __future__ import annotations

from pathlib import Path

import pytest

from murmur import AgentRuntime, BudgetExceededError, SpawnError, TrustViolationError
from murmur.core.errors import RegistryError
from murmur.hookspecs import hookimpl
from murmur.processes import (
    CommandResult,
    LocalMachine,
    Machine,
    agent,
    agent_process,
    machine,
    use_runtime,
)
from murmur.testing.machines import MachineContract
from murmur.types import TrustLevel


async def test_a_high_trust_agent_runs_commands_in_its_local_machine() -> None:
    """agent.exec runs a shell command in the machine's working directory, which goes away
    with the process that created it."""
    seen: dict[str, Path] = {}

    @agent_process
    async def proc() -> CommandResult:
        box = await machine()
        assert isinstance(box, LocalMachine)
        seen["workdir"] = box.workdir
        builder = await agent("builder", trust_level="high", machine=box)
        await builder.exec("echo hi > note.txt")
        return await builder.exec("cat note.txt; echo oops >&2; exit 3")

    result = await proc()
    assert (result.exit_code, result.stdout, result.stderr, result.ok) == (
        3,
        "hi\n",
        "oops\n",
        False,
    )
    assert not seen["workdir"].exists()


async def test_only_high_trust_agents_may_run_local_commands() -> None:
    """A MEDIUM-trust agent's exec is refused with TrustViolationError."""

    @agent_process
    async def proc() -> None:
        worker = await agent("worker", machine=await machine())
        await worker.exec("echo nope")

    with pytest.raises(TrustViolationError, match="HIGH-trust"):
        await proc()


async def test_commands_are_bounded_in_time_and_output(tmp_path: Path) -> None:
    """A command past its timeout is killed (BudgetExceededError, code timeout); output past
    max_output is cut and marked truncated."""
    box = LocalMachine(tmp_path, timeout_s=5, max_output=10)
    long = await box.exec("printf '%050d' 0", trust_level=TrustLevel.HIGH)
    assert (long.stdout, long.truncated) == ("0" * 10, True)
    with pytest.raises(BudgetExceededError) as caught:
        await box.exec("sleep 5", timeout_s=0.1, trust_level=TrustLevel.HIGH)
    assert caught.value.code == "timeout"
    box.close()
    assert tmp_path.exists()  # noqa: ASYNC240 - a given working directory is not removed


async def test_the_local_machine_refuses_an_image_and_exec_needs_a_machine() -> None:
    """machine(image=...) needs a container plugin; exec without a machine says how."""

    @agent_process
    async def with_image() -> None:
        await machine(image="python:3.12")

    with pytest.raises(SpawnError, match="takes no image"):
        await with_image()

    @agent_process
    async def without() -> None:
        worker = await agent("worker", trust_level="high")
        await worker.exec("true")

    with pytest.raises(SpawnError, match="no machine"):
        await without()

    @agent_process
    async def unknown() -> None:
        await machine(kind="no-such-kind")

    with pytest.raises(RegistryError):
        await unknown()


class FakeMachine(Machine):
    name = "fake"

    def __init__(self, image: str | None = None) -> None:
        self.image = image

    async def exec(
        self, command: str, *, timeout_s: float | None = None, trust_level: TrustLevel
    ) -> CommandResult:
        return CommandResult(command, 0, f"{self.image}: {command}", "")


class FakeMachines:
    @hookimpl
    def murmur_resolve_machine(self, kind: str, options: dict[str, object]) -> object | None:
        return FakeMachine(image=str(options["image"])) if kind == "fake" else None


async def test_a_plugin_provides_a_machine_kind_through_the_hook() -> None:
    """murmur_resolve_machine: a plugin answers machine(kind=..., image=...)."""
    runtime = AgentRuntime()
    runtime.plugins.register(FakeMachines())

    @agent_process
    async def proc() -> str:
        box = await machine(image="sandbox:1", kind="fake")
        worker = await agent("worker", machine=box)
        return (await worker.exec("ls")).stdout

    with use_runtime(runtime):
        assert await proc() == "sandbox:1: ls"


class TestLocalMachineContract(MachineContract):
    """The built-in local machine passes the machine contract."""

    @pytest.fixture
    def machine(self) -> LocalMachine:
        return LocalMachine(timeout_s=10)

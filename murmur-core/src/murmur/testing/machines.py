"""Contract suite for machines (where an agent process's agents run commands).

```python
from murmur.testing.machines import MachineContract

class TestMyMachine(MachineContract):
    @pytest.fixture
    def machine(self):
        return MyContainerMachine(image="python:3.12-slim")
```
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from murmur.core.errors import BudgetExceededError
from murmur.processes import CommandResult, Machine
from murmur.types import TrustLevel

__all__ = ["MachineContract"]


class MachineContract:
    """Subclass and provide a `machine` fixture; `trust_level` is what its tests run as."""

    trust_level: TrustLevel = TrustLevel.HIGH
    """The trust level of the agent the commands run for (HIGH: allowed everywhere)."""

    @pytest.fixture
    def machine(self) -> Any:
        """The machine under test."""
        raise NotImplementedError("provide a `machine` fixture")

    @pytest.fixture
    def box(self, machine: Any) -> Iterator[Machine]:
        """The machine, closed after the test."""
        yield machine
        machine.close()

    async def test_is_a_machine(self, box: Machine) -> None:
        """It subclasses `murmur.processes.Machine`, with a name."""
        assert isinstance(box, Machine)
        assert isinstance(box.name, str)
        assert box.name

    async def test_a_command_reports_its_output_and_exit_code(self, box: Machine) -> None:
        """stdout, stderr and the exit code come back in a `CommandResult`."""
        ok = await box.exec("echo hello", trust_level=self.trust_level)
        assert isinstance(ok, CommandResult)
        assert (ok.exit_code, ok.stdout, ok.ok) == (0, "hello\n", True)
        bad = await box.exec("echo oops >&2; exit 3", trust_level=self.trust_level)
        assert (bad.exit_code, bad.stderr, bad.ok) == (3, "oops\n", False)

    async def test_commands_share_a_working_directory(self, box: Machine) -> None:
        """A file one command writes is there for the next."""
        await box.exec("echo kept > contract.txt", trust_level=self.trust_level)
        kept = await box.exec("cat contract.txt", trust_level=self.trust_level)
        assert kept.stdout == "kept\n"

    async def test_a_command_past_its_timeout_is_stopped(self, box: Machine) -> None:
        """A command running past `timeout_s` raises BudgetExceededError (code timeout)."""
        with pytest.raises(BudgetExceededError) as caught:
            await box.exec("sleep 10", timeout_s=0.2, trust_level=self.trust_level)
        assert caught.value.code == "timeout"

    async def test_close_twice_is_safe(self, box: Machine) -> None:
        """`close` may be called more than once."""
        box.close()
        box.close()

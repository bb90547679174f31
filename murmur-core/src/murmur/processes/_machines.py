"""Machines: where an agent's shell commands run (`machine()`, `agent.exec`).

`Machine` is the seam: a container or remote-sandbox machine comes as a plugin. The built-in
`LocalMachine` runs commands as subprocesses in a working directory, with a timeout and an
output limit, and only for HIGH-trust agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from murmur.core.errors import BudgetExceededError, SpawnError, TrustViolationError
from murmur.processes._process import current_process
from murmur.types import TrustLevel

__all__ = ["CommandResult", "LocalMachine", "Machine", "machine"]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command did: exit code, (possibly truncated) output, and whether it was cut."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the command exited with 0."""
        return self.exit_code == 0


class Machine(ABC):
    """Somewhere commands run for an agent. Subclass it for containers or remote sandboxes.

    `exec` is the one method to implement; `close` releases the machine (called when the
    process that created it ends).
    """

    name: str = "machine"

    @abstractmethod
    async def exec(
        self, command: str, *, timeout_s: float | None = None, trust_level: TrustLevel
    ) -> CommandResult:
        """Run `command` for an agent of `trust_level` and return what it did."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the machine."""


class LocalMachine(Machine):
    """Commands run as local subprocesses (`/bin/sh -c`) in `workdir`, for HIGH trust only.

    Args:
        image: must be None: the local machine runs on this host (a container machine
            plugin runs images).
        workdir: the working directory (default: a new temporary directory, removed at close).
        timeout_s: default seconds a command may run before it is killed.
        max_output: bytes of stdout and of stderr kept; the rest is cut (`truncated`).
        env: extra environment variables.
    """

    name = "local"

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        image: str | None = None,
        timeout_s: float = 60.0,
        max_output: int = 64_000,
        env: dict[str, str] | None = None,
    ) -> None:
        if image is not None:
            raise SpawnError(
                f"the local machine runs on this host and takes no image (got {image!r}); "
                "install a container machine plugin to run images",
                code="unsupported",
            )
        self._owned = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp("-murmur"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.timeout_s = timeout_s
        self.max_output = max_output
        self.env = dict(env or {})

    async def exec(
        self, command: str, *, timeout_s: float | None = None, trust_level: TrustLevel
    ) -> CommandResult:
        """Run `command`; kill it past the timeout.

        Raises:
            TrustViolationError: the agent is not HIGH trust.
            BudgetExceededError: the command ran past its timeout (code `"timeout"`).
        """
        if trust_level is not TrustLevel.HIGH:
            raise TrustViolationError(
                f"a {trust_level.value}-trust agent may not run commands on a local machine; "
                "only HIGH-trust agents may (Agent(trust_level='high'))",
                details={"machine": self.name, "trust_level": trust_level.value},
            )
        limit = self.timeout_s if timeout_s is None else timeout_s
        proc = await asyncio.create_subprocess_shell(
            command,
            cwd=self.workdir,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            async with asyncio.timeout(limit):
                out, err = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            await proc.wait()
            raise BudgetExceededError(
                f"command ran past its {limit}s timeout on the local machine: {command[:200]}",
                code="timeout",
                details={"machine": self.name, "timeout_s": limit},
            ) from None
        truncated = len(out) > self.max_output or len(err) > self.max_output
        return CommandResult(
            command=command,
            exit_code=proc.returncode if proc.returncode is not None else -1,
            stdout=out[: self.max_output].decode(errors="replace"),
            stderr=err[: self.max_output].decode(errors="replace"),
            truncated=truncated,
        )

    def close(self) -> None:
        """Remove the working directory if this machine created it."""
        if self._owned:
            shutil.rmtree(self.workdir, ignore_errors=True)


async def machine(image: str | None = None, *, kind: str = "local", **options: Any) -> Machine:
    """Create a machine owned by the current process (closed when the process ends).

    Machines are a plugin category: `kind` is looked up through the runtime's plugin host
    (the `murmur_resolve_machine` hook, then the `murmur.machines` entry points).

    Args:
        image: what the machine runs (the local machine runs on this host and takes none).
        kind: the machine kind (`"local"` is built in).
        **options: passed to the machine (local: `workdir=`, `timeout_s=`, `max_output=`,
            `env=`).

    Raises:
        RegistryError: no plugin provides the kind.
        SpawnError: an image for the local machine (code `"unsupported"`), or what the
            plugin returned is not a `Machine` (code `"invalid_machine"`).
    """
    process = current_process()
    if image is not None:
        options["image"] = image
    created = process.runtime.plugins.resolve_machine(kind, **options)
    if not isinstance(created, Machine):
        raise SpawnError(
            f"the machine plugin for {kind!r} returned a {type(created).__name__}, not a "
            "murmur.processes.Machine",
            code="invalid_machine",
        )
    process.machines.append(created)
    return created

"""What the process-based suites share.

The `doubler` agent their worker processes run, `murmur worker start` processes started and stopped
for a test, and bounded waits.

Used by `murmur.testing.fleet_processes`, `murmur.testing.restart`, `murmur.testing.soak`
and plugin suites that start worker processes of their own (`WorkerProcesses` takes any
`--app`).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncGenerator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai.messages import ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from murmur.agent import Agent
from murmur.events import CollectingEventEmitter, EventType
from murmur.transport import resolve_transport
from murmur.worker import BrokerEventBridge

__all__ = [
    "AGENTS_APP",
    "Doubled",
    "Executions",
    "Number",
    "WorkerProcesses",
    "agents",
    "collect_fleet_events",
    "doubler",
    "python_path",
    "until",
]


class Number(BaseModel):
    """The task input."""

    n: int


class Doubled(BaseModel):
    """The task output: the input doubled, and the worker process that did it."""

    n: int
    doubled: int
    pid: int


def _record(n: int) -> None:
    """Append `<pid> <n>` to `MURMUR_TEST_EXECUTIONS`, so a test counts what actually ran.

    One short `O_APPEND` write is atomic across processes, so a test counts what actually ran
    without a shared database.
    """
    path = os.environ.get("MURMUR_TEST_EXECUTIONS")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()} {n}\n".encode())
        finally:
            os.close(fd)


async def _double(messages: list[Any], info: AgentInfo) -> ModelResponse:
    number = Number.model_validate_json(str(messages[-1].parts[-1].content))
    _record(number.n)
    await asyncio.sleep(float(os.environ.get("MURMUR_TEST_DELAY_S", "0.01")))
    args = {"n": number.n, "doubled": number.n * 2, "pid": os.getpid()}
    return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, json.dumps(args))])


agents = [
    Agent(name="doubler", model=FunctionModel(_double), input_type=Number, output_type=Doubled)
]
"""What the worker processes run: `doubler` sleeps `MURMUR_TEST_DELAY_S` and records each
execution in `MURMUR_TEST_EXECUTIONS` when set."""

AGENTS_APP = "murmur.testing._processes:agents"
"""The `--app` of worker processes running `agents`."""

doubler = Agent(name="doubler", model="test", input_type=Number, output_type=Doubled)
"""The caller's view of the agent: same name and types; the model runs on the workers."""


class Executions:
    """The executions the worker processes recorded: `(pid, n)` pairs.

    Args:
        path: the file worker processes append to (`MURMUR_TEST_EXECUTIONS`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[tuple[int, int]]:
        """Every execution so far, in the order they were recorded."""
        if not self.path.exists():
            return []
        lines = self.path.read_text().split()
        return [(int(p), int(n)) for p, n in zip(lines[::2], lines[1::2], strict=True)]


async def until(check: Callable[[], bool], within_s: float, what: str) -> None:
    """Wait until `check()` is true; fail the test naming `what` after `within_s`."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within_s:g}s waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def collect_fleet_events(broker_url: str) -> AsyncGenerator[CollectingEventEmitter]:
    """Fleet events (worker started, task rejected, ...) seen from the test while open."""
    transport = resolve_transport(broker_url)
    await transport.connect()
    seen = CollectingEventEmitter()
    bridge = BrokerEventBridge(transport)
    try:
        await bridge.forward_to(seen)
        yield seen
    finally:
        await bridge.aclose()
        await transport.close()


class WorkerProcesses:
    """`murmur worker start` processes for one test, each logging to its own file.

    Args:
        broker_url: the broker the workers consume from.
        logs: the directory of the workers' log files (`<consumer_id>.log`).
        fleet_events: fleet events seen by the test; a worker has started once its
            `WORKER_STARTED` is among them. Without it, `start` returns at once.
        env: extra environment of every worker (`PYTHONPATH`, `MURMUR_TEST_*`, ...).
        cwd: the workers' working directory.
        start_timeout_s: how long a worker may take to start consuming.
    """

    def __init__(
        self,
        broker_url: str,
        logs: Path,
        *,
        fleet_events: CollectingEventEmitter | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self.broker_url = broker_url
        self.logs = logs
        self.fleet_events = fleet_events
        self.env = env or {}
        self.cwd = cwd
        self.start_timeout_s = start_timeout_s
        self.processes: list[Process] = []

    async def start(
        self,
        *args: str,
        agents: str = "doubler",
        app: str = AGENTS_APP,
        prefix: str = "proc",
        env: dict[str, str] | None = None,
    ) -> Process:
        """Start one worker and return once it consumes.

        `args` are extra `murmur worker start` flags. Without `fleet_events` it returns at once.
        """
        consumer_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        command = [
            sys.executable, "-c", "from murmur.cli import main; main()",
            "worker", "start", "--agents", agents, "--app", app,
            "--broker", self.broker_url, "--consumer-id", consumer_id, *args,
        ]  # fmt: skip
        log = self.logs / f"{consumer_id}.log"
        fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.cwd,
                env={**os.environ, **self.env, **(env or {})},
                stdout=fd,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            os.close(fd)
        self.processes.append(proc)
        seen = self.fleet_events
        if seen is None:
            return proc

        def started() -> bool:
            if proc.returncode is not None:
                output = log.read_text()[-2000:]
                pytest.fail(f"worker {consumer_id} exited with {proc.returncode}: {output}")
            return any(
                e.payload.get("consumer_id") == consumer_id
                for e in seen.of_type(EventType.WORKER_STARTED)
            )

        await until(started, self.start_timeout_s, f"worker {consumer_id} to start")
        return proc

    def tails(self, size: int = 1500) -> dict[str, str]:
        """The end of every worker's log, by file name."""
        return {
            log.name: log.read_text(errors="replace")[-size:]
            for log in sorted(self.logs.glob("*.log"))
        }

    async def aclose(self, stop_timeout_s: float = 30.0) -> None:
        """SIGTERM every worker still running; SIGKILL what has not stopped in time."""
        for proc in self.processes:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                await asyncio.wait_for(proc.wait(), stop_timeout_s)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def python_path(*directories: Path | str) -> str:
    """`PYTHONPATH` with `directories` first (for an `--app` module next to the tests)."""
    return os.pathsep.join([*map(str, directories), os.environ.get("PYTHONPATH", "")])

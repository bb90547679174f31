"""`BrokerRestartScenario`: a broker restarted under load, with worker processes and a caller.

A plugin's test subclasses the scenario and provides a `broker` fixture: a `PrivateBroker`,
a server of its own on a spare port that the scenario stops and starts again (same port,
same data directory). The scenario starts 2 `murmur worker start` processes running the
`doubler` agent of `murmur.testing.fleet_processes`, drives a sustained load from one
caller runtime (single runs and gathers), restarts the broker mid-load and checks what the
broker promises:

- `durable = True` (NATS JetStream, RabbitMQ quorum queues): every run returns its correct,
  typed result, and each task's result reaches the caller once (`JobBackend` counts and
  drops the duplicates a redelivery produces).
- `durable = False` (a Redis that keeps nothing on disk): every run returns its correct
  result or a typed error before its deadline; none hangs.

Either way, the caller and both workers reconnect by themselves: after the restart, the same
runtime gets results again from both worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from abc import ABC, abstractmethod
from asyncio.subprocess import Process
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from murmur.core.errors import MurmurError
from murmur.events import NullEventEmitter
from murmur.runtime import AgentRuntime, RuntimeOptions
from murmur.testing._processes import Doubled, Number, WorkerProcesses, agents, doubler
from murmur.types import AgentResult, TaskSpec

__all__ = [
    "BrokerRestartScenario",
    "Doubled",
    "Number",
    "PrivateBroker",
    "ServerProcess",
    "agents",
    "free_port",
    "require_executable",
]


def require_executable(name: str, *candidates: str) -> str:
    """The path of a broker's server executable; skip the calling test when there is none.

    The executable is `name`, or the first of `candidates` that exists. Under CI a missing
    executable fails the test instead.
    """
    import shutil

    from murmur.testing._services import services_required

    for candidate in (name, *candidates):
        found = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if found:
            return found
    message = f"{name} is not installed; install it to run this test"
    if services_required():
        pytest.fail(message + " (MURMUR_REQUIRE_SERVICES=1)")
    pytest.skip(message)


def _tail(path: Path, size: int = 1500) -> str:
    return path.read_text(errors="replace")[-size:]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return True


class PrivateBroker(ABC):
    """A broker server owned by one test: started, stopped, and started again on the same port.

    It restarts with the same data. `aclose` (the fixture's finalizer) leaves nothing running.
    """

    url: str
    """The broker URL murmur connects to (with a namespace of the test's own)."""

    @abstractmethod
    async def start(self) -> None:
        """Start the server; return once it accepts clients."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop the server (gracefully where it can); return once it is gone."""

    async def aclose(self) -> None:
        """Stop the server if it runs; kill what is left. Default: `stop`."""
        await self.stop()


class ServerProcess(PrivateBroker):
    """A broker that is one server process.

    `command` runs in a session of its own, is ready once `port` accepts connections, and is stopped
    with SIGTERM (SIGKILL for the whole session after `stop_timeout_s`).

    Args:
        command: The server command line.
        port: The port it listens on (probed for readiness).
        url: The broker URL for murmur.
        log: Where the server's output goes (appended across restarts).
        ready_timeout_s: How long a start may take.
        stop_timeout_s: How long a graceful stop may take.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        port: int,
        url: str,
        log: Path,
        env: dict[str, str] | None = None,
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 15.0,
    ) -> None:
        self.command = list(command)
        self.port = port
        self.url = url
        self.log = log
        self.env = env
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.process: Process | None = None

    async def start(self) -> None:
        """Start the server process and wait until its port accepts connections."""
        fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdout=fd,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        finally:
            os.close(fd)
        await self.wait_ready()

    async def wait_ready(self) -> None:
        """Wait until the port accepts connections (fail if the process exits first)."""
        deadline = time.monotonic() + self.ready_timeout_s
        while not await _port_open(self.port):
            process = self.process
            if process is not None and process.returncode is not None:
                pytest.fail(f"{self.command[0]} exited with {process.returncode}: {self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.command[0]} not listening on {self.port}: {self.tail()}")
            await asyncio.sleep(0.05)

    def tail(self, size: int = 2000) -> str:
        """The end of the server's log."""
        return _tail(self.log, size) if self.log.exists() else ""

    async def terminate(self) -> None:
        """Ask the server to stop (SIGTERM by default)."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    async def stop(self) -> None:
        """Stop gracefully; kill the process group when it does not stop in time."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                await self.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), self.stop_timeout_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the session: the server and its helpers
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
        self.process = None


@dataclass(slots=True)
class _Load:
    """What the load saw: each run's input and result, and the restart's place in it."""

    results: dict[int, AgentResult[Any]] = field(default_factory=dict)
    started: int = 0
    restarted_at: int | None = None
    """How many results had come back when the broker was back."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    phases: list[tuple[str, float]] = field(default_factory=list)
    """When each phase of the scenario was reached (monotonic seconds)."""

    def done(self) -> int:
        return len(self.results)

    def mark(self, phase: str) -> None:
        self.phases.append((phase, time.monotonic()))

    def timeline(self) -> str:
        start = self.phases[0][1] if self.phases else 0.0
        return ", ".join(f"{name} +{at - start:.1f}s" for name, at in self.phases)


class BrokerRestartScenario:
    """A broker restarted mid-load; callers and workers recover. Provide `broker`."""

    durable: ClassVar[bool] = True
    """The broker keeps queued tasks across a restart (False: the scenario accepts typed
    failures for tasks the restart wiped, never a hang or a wrong result)."""

    run_timeout_s: ClassVar[float] = 40.0
    """Each run's deadline (`RuntimeOptions.timeout_seconds`)."""

    reclaim_min_idle_ms: ClassVar[int] = 2000
    """The workers' reclaim window: a task whose result could not be sent is run again
    after it."""

    concurrency: ClassVar[int] = 8
    """Each worker process's concurrency."""

    single_runners: ClassVar[int] = 6
    """Concurrent loops of single `runtime.run` calls."""

    gather_width: ClassVar[int] = 20
    """The size (and width) of each gather of the load."""

    results_before_restart: ClassVar[int] = 80
    """Results to see before the broker is stopped."""

    results_after_restart: ClassVar[int] = 120
    """Results to see after the broker is back before the load stops."""

    down_s: ClassVar[float] = 0.5
    """How long the broker stays down."""

    start_timeout_s: ClassVar[float] = 60.0
    """How long worker processes may take to serve their first task."""

    @pytest.fixture
    def broker(self, tmp_path: Path) -> PrivateBroker:
        """Override (usually an async generator fixture): a started `PrivateBroker` for this test.

        It is the test's own, closed with `aclose` after the test.
        """
        raise NotImplementedError("provide a broker fixture")

    @pytest.fixture
    async def workers(self, broker: PrivateBroker, tmp_path: Path) -> AsyncIterator[list[Process]]:
        """2 `murmur worker start` processes on the broker, stopped after the test."""
        processes = WorkerProcesses(broker.url, tmp_path, env={"MURMUR_TEST_DELAY_S": "0.02"})
        for _ in range(2):
            await processes.start(
                "--concurrency", str(self.concurrency),
                "--reclaim-min-idle-ms", str(self.reclaim_min_idle_ms),
                "--heartbeat-interval", "1", "--stop-timeout", "5", "--no-log-events",
                prefix="restart",
            )  # fmt: skip
        yield processes.processes
        await processes.aclose()

    @pytest.fixture
    async def caller(self, broker: PrivateBroker) -> AsyncIterator[AgentRuntime]:
        """The caller runtime driving the load, closed after the test."""
        runtime = AgentRuntime(
            RuntimeOptions(timeout_seconds=self.run_timeout_s),
            broker=broker.url,
            event_emitter=NullEventEmitter(),
        )
        yield runtime
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.aclose(), 30)

    # -- the scenario -----------------------------------------------------------------

    async def test_a_broker_restart_mid_load(
        self,
        broker: PrivateBroker,
        workers: list[Process],
        caller: AgentRuntime,
        tmp_path: Path,
    ) -> None:
        """The broker restarts under load: callers and workers reconnect by themselves.

        On a durable broker no run is lost and none is answered twice, on a volatile one every run
        ends with its right result or a typed error before its deadline.
        """
        pids = {p.pid for p in workers}
        load = _Load()
        mark = load.mark
        await self._both_serve(caller, pids, tmp_path)
        mark("workers serving")
        driving = asyncio.create_task(self._drive(caller, load))
        try:
            await self._until(lambda: load.done() >= self.results_before_restart, "load")
            mark("load running")
            await broker.stop()
            mark("broker stopped")
            await asyncio.sleep(self.down_s)
            await broker.start()
            mark("broker started")
            load.restarted_at = back = load.done()
            wanted = back + self.results_after_restart
            await self._until(lambda: load.done() >= wanted, "results after the restart")
            mark("results flowing")
            load.stop.set()
            # Bounded: every run has a deadline; a hang fails here instead of timing out.
            await asyncio.wait_for(driving, self.run_timeout_s + 20)
            mark("load drained")
        finally:
            load.stop.set()
            if not driving.done():
                driving.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await driving
        await self._both_serve(caller, pids, tmp_path)  # both workers are back on the broker
        mark("both workers serving again")
        self.check(load, caller)

    def check(self, load: _Load, caller: AgentRuntime) -> None:
        """Every run's outcome, as the broker's guarantee says (see `durable`)."""
        from murmur.backends import JobBackend

        backend = caller.backend
        assert isinstance(backend, JobBackend)
        results = load.results
        assert sorted(results) == list(range(load.started))
        wrong = {
            n: (r.output if r.is_ok() else r.error)
            for n, r in results.items()
            if r.is_ok() and (r.output.n, r.output.doubled) != (n, 2 * n)
        }
        assert wrong == {}
        failed = {n: r.error for n, r in results.items() if not r.is_ok()}
        ok = len(results) - len(failed)
        stats = backend.stats
        print(  # the measurement the docs quote (pytest -s)
            f"\nrestart: {len(results)} runs, {ok} ok, {len(failed)} failed, restart after "
            f"{load.restarted_at} results; caller stats {stats}; {load.timeline()}"
        )
        if self.durable:
            assert failed == {}
            # Every task published got one result; a second one was counted and dropped.
            assert stats["results"] == stats["published"]
        else:
            for n, error in failed.items():
                assert isinstance(error, MurmurError), (n, error)
                assert error.code in ("timeout", "broker_error", "broker_unavailable"), (n, error)

    # -- helpers ----------------------------------------------------------------------

    async def _drive(self, runtime: AgentRuntime, load: _Load) -> None:
        """Single runs from several loops and back-to-back gathers, until `load.stop`."""

        def take() -> int:
            n = load.started
            load.started += 1
            return n

        async def singles() -> None:
            while not load.stop.is_set():
                n = take()
                load.results[n] = await runtime.run(doubler, Number(n=n))

        async def gathers() -> None:
            while not load.stop.is_set():
                ns = [take() for _ in range(self.gather_width)]
                tasks = [TaskSpec(input=Number(n=n)) for n in ns]
                got = await runtime.gather(doubler, tasks, max_concurrency=self.gather_width)
                load.results.update(zip(ns, got, strict=True))

        await asyncio.gather(*(singles() for _ in range(self.single_runners)), gathers())

    async def _both_serve(self, runtime: AgentRuntime, pids: set[int], tmp_path: Path) -> None:
        """Gather until both worker processes answered (each a bounded wait)."""
        seen: set[int] = set()
        deadline = time.monotonic() + self.start_timeout_s
        while seen != pids:
            if time.monotonic() > deadline:
                logs = {p.name: _tail(p) for p in tmp_path.glob("restart-*.log")}  # noqa: ASYNC240
                pytest.fail(f"workers {pids - seen} did not serve within the bound: {logs}")
            tasks = [TaskSpec(input=Number(n=-1 - i)) for i in range(2 * self.concurrency)]
            for result in await runtime.gather(doubler, tasks):
                if result.is_ok():
                    seen.add(result.output.pid)

    async def _until(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.run_timeout_s + 20
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)

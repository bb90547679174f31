"""Helpers of the install-matrix smoke scripts, which run inside a fresh venv holding only
the wheels under test (so: the standard library, murmur and what the wheels brought)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

PLUGIN_LIBRARIES = (
    "faststream",
    "redis",
    "nats",
    "aio_pika",
    "confluent_kafka",
    "aiosqlite",
    "rocksdict",
    "fastapi",
    "uvicorn",
    "sse_starlette",
    "mcp",
    "fastmcp",
    "opentelemetry.sdk",
)
"""What the plugins bring; none is installed, let alone imported, with murmur-core alone."""


def check(condition: object, what: str) -> None:
    """Fail the smoke script, saying what did not hold."""
    if not condition:
        raise SystemExit(f"SMOKE FAILED: {what}")


def murmur(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The venv's `murmur` CLI."""
    return subprocess.run(
        [sys.executable, "-m", "murmur.cli", *args],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def plugins_ok(*expected: str) -> dict[str, dict[str, Any]]:
    """`murmur plugins list --json --strict`: exits 0 and lists `expected` with status ok."""
    done = murmur("plugins", "list", "--json", "--strict")
    check(done.returncode == 0, f"murmur plugins list --strict: {done.stdout}{done.stderr}")
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    for name in ("murmur-core", *expected):
        check(name in rows, f"{name} is listed by murmur plugins list: {sorted(rows)}")
        check(rows[name]["status"] == "ok", f"{name}: {rows[name]}")
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A background process of this venv, its output collected; `wait_for` a line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *args],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        check(False, f"{text!r} never printed; output:\n" + "\n".join(self.lines[-40:]))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(5)


def one_task_through_a_worker_process(url: str) -> None:
    """`murmur worker start` in its own process on `url`; one task from here; typed result."""
    from smoke_app import agents

    from murmur import AgentRuntime, TaskSpec
    from murmur.events import NullEventEmitter

    worker = Process(
        "-m", "murmur.cli", "worker", "start", "-a", "echo", "-b", url,
        "--app", "smoke_app:agents", "--concurrency", "2",
    )  # fmt: skip
    try:
        worker.wait_for(": serving echo on ")

        async def run() -> Any:
            async with asyncio.timeout(120):  # connect, run and close: never hang the matrix
                async with AgentRuntime(broker=url, event_emitter=NullEventEmitter()) as runtime:
                    return await runtime.run(agents["echo"], TaskSpec(input="over the broker"))

        result = asyncio.run(run())
        check(result.is_ok(), f"one task through a worker on {url}: {result.error}")
        check(isinstance(result.output, str), f"a typed output: {result.output!r}")
    finally:
        worker.stop()
    check(worker.process.returncode == 0, "the worker stops cleanly:\n" + "\n".join(worker.lines))
